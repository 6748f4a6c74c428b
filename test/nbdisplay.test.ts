import assert from "node:assert/strict";
import { test } from "node:test";
import {
  escapeHtml,
  type Figure,
  figureBundle,
  formatNumber,
  inKernel,
  liveLine,
  PLOTLY_MIME,
  plotlyLoaderHtml,
  scriptJson,
  tableHtml,
  tableText,
} from "../src/present/nbdisplay";

/** The text between `<script ...>` and `</script>` of each script element in `html`. */
function scriptBodies(html: string): string[] {
  return [...html.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => m[1] ?? "");
}

test("module imports outside a kernel and knows it", () => {
  assert.equal(inKernel(), false);
});

test('escapeHtml escapes & < > "', () => {
  assert.equal(escapeHtml(`a<b & "c">`), "a&lt;b &amp; &quot;c&quot;&gt;");
});

test("figureBundle: one bundle with plotly json, html and plain text", () => {
  const fig: Figure = {
    data: [
      {
        type: "scatter",
        x: [1, 2, 3],
        y: new Float32Array([0.5, 1, 2]) as unknown as number[],
        name: "loss",
      },
    ],
    layout: { title: { text: "Train & test" } },
    config: { displaylogo: false },
  };
  const b = figureBundle(fig, "fig-1");
  assert.deepEqual(Object.keys(b).sort(), [PLOTLY_MIME, "text/html", "text/plain"].sort());
  const json = b[PLOTLY_MIME] as { data: { y: unknown }[]; layout: unknown; config: unknown };
  assert.deepEqual(json.data[0]?.y, [0.5, 1, 2], "typed arrays become plain arrays");
  assert.deepEqual(json.layout, { title: { text: "Train & test" } });
  assert.deepEqual(json.config, { displaylogo: false });
  const html = b["text/html"] as string;
  assert.match(html, /<div id="fig-1"/);
  assert.match(html, /Plotly\.newPlot\(/);
  assert.equal(b["text/plain"], "<Plotly figure: 1 trace>");
});

test("figureBundle: hostile strings cannot break out of the script or the id attribute", () => {
  const evil = `</script><script>alert("x")</script><!-- & "q" \u2028`;
  const b = figureBundle(
    { data: [{ type: "bar", x: [evil], y: [1], name: evil }], layout: { title: { text: evil } } },
    `id"><b>`,
  );
  const html = b["text/html"] as string;
  // Exactly one script element, and its body has no "</script" nor "<" at all.
  assert.equal((html.match(/<script/gi) ?? []).length, 1);
  assert.equal((html.match(/<\/script/gi) ?? []).length, 1);
  const [body] = scriptBodies(html);
  assert.ok(body !== undefined && !body.includes("<"), "no raw < inside the figure script");
  assert.ok(!body.includes("\u2028"));
  assert.match(html, /<div id="id&quot;&gt;&lt;b&gt;"/);
  // The embedded JSON still decodes to the original strings.
  const m = body.match(/var fig = (.*);\n/);
  assert.ok(m?.[1]);
  const fig = JSON.parse(m[1]) as { data: { name: string }[] };
  assert.equal(fig.data[0]?.name, evil);
  // The mime JSON keeps the raw string (Jupyter serialises it as JSON itself).
  assert.equal((b[PLOTLY_MIME] as { data: { name: string }[] }).data[0]?.name, evil);
});

test("scriptJson escapes < and line separators and stays valid JSON", () => {
  const s = scriptJson({ a: "</script>", b: "x\u2029y" });
  assert.ok(!s.includes("<"));
  assert.deepEqual(JSON.parse(s), { a: "</script>", b: "x\u2029y" });
});

test("plotlyLoaderHtml escapes </script inside the library source", () => {
  const html = plotlyLoaderHtml('var s = "</script>"; var t = "</SCRIPT >";');
  assert.equal((html.match(/<\/script/gi) ?? []).length, 1, "only the closing tag");
  assert.ok(html.startsWith("<script") && html.endsWith("</script>"));
  assert.match(html, /if \(!window\.Plotly\)/);
});

test("formatNumber: significant digits, integers exact, exponential for tiny/huge", () => {
  assert.equal(formatNumber(Math.PI, 3), "3.14");
  assert.equal(formatNumber(Math.PI, 6), "3.14159");
  assert.equal(formatNumber(0.5, 4), "0.5000");
  assert.equal(formatNumber(42, 2), "42");
  assert.equal(formatNumber(1234.5678, 3), "1235");
  assert.equal(formatNumber(0.000012345, 3), "1.23e-5");
  assert.equal(formatNumber(-2.5e12 + 0.5, 3), "-2.50e+12");
  assert.equal(formatNumber(Number.NaN), "NaN");
  assert.equal(formatNumber(Number.NEGATIVE_INFINITY), "-inf");
});

test("tableHtml from row objects: escaped header/cells, digits, union of keys, caption", () => {
  const rows = [
    { name: "<b>a&b</b>", loss: 0.123456, step: 10 },
    { name: 'say "hi"', loss: 1 / 3, extra: true },
  ];
  const html = tableHtml(rows, { caption: "Runs <1>", digits: 3 });
  assert.match(html, /^<table border="1" class="dataframe">/);
  assert.match(html, /<caption>Runs &lt;1&gt;<\/caption>/);
  assert.match(html, /<th>name<\/th><th>loss<\/th><th>step<\/th><th>extra<\/th>/);
  assert.match(html, /<td>&lt;b&gt;a&amp;b&lt;\/b&gt;<\/td><td>0\.123<\/td><td>10<\/td><td><\/td>/);
  assert.match(html, /<td>say &quot;hi&quot;<\/td><td>0\.333<\/td><td><\/td><td>true<\/td>/);
  assert.ok(!html.includes("<b>"), "no unescaped markup from data");
  assert.ok(!/<th><\/th>/.test(html), "no index column for row objects by default");
});

test("tableHtml from a DataFrame-like object uses columns/index/values", () => {
  const df = {
    columns: ["lr", "acc"],
    index: ["run<1>", 7],
    values: [
      [0.001, 0.99876],
      [0.01, 0.5],
    ],
  };
  const html = tableHtml(df, { digits: 2 });
  assert.match(html, /<tr style="text-align: right;"><th><\/th><th>lr<\/th><th>acc<\/th><\/tr>/);
  assert.match(html, /<tr><th>run&lt;1&gt;<\/th><td>0\.0010<\/td><td>1\.0<\/td><\/tr>/);
  assert.match(html, /<tr><th>7<\/th><td>0\.010<\/td><td>0\.50<\/td><\/tr>/);
  assert.equal(
    tableText(df, { digits: 2 }),
    ["            lr   acc", "run<1>  0.0010   1.0", "     7   0.010  0.50"].join("\n"),
  );
});

test("tableHtml with a real danfojs DataFrame", async () => {
  const dfd = await import("danfojs-node");
  const df = new dfd.DataFrame({ op: ["add", "mul"], acc: [0.91234, 1] });
  const html = tableHtml(df, { digits: 3 });
  assert.match(html, /<th><\/th><th>op<\/th><th>acc<\/th>/);
  assert.match(html, /<tr><th>0<\/th><td>add<\/td><td>0\.912<\/td><\/tr>/);
  assert.match(html, /<tr><th>1<\/th><td>mul<\/td><td>1<\/td><\/tr>/);
});

test("tableHtml elides the middle of long tables", () => {
  const rows = Array.from({ length: 50 }, (_, i) => ({ i }));
  const html = tableHtml(rows, { maxRows: 10 });
  assert.equal((html.match(/<tr>/g) ?? []).length, 11);
  assert.match(html, /…/);
  assert.match(html, /50 rows × 1 columns/);
});

/** What `f` prints through console.log and process.stdout.write, with stdout looking like a terminal or not. */
function printed(tty: boolean, f: () => void): { logs: string[]; writes: string[] } {
  const logs: string[] = [];
  const writes: string[] = [];
  const { log } = console;
  const write = process.stdout.write;
  const isTTY = Object.getOwnPropertyDescriptor(process.stdout, "isTTY");
  Object.defineProperty(process.stdout, "isTTY", { value: tty, configurable: true, writable: true });
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  process.stdout.write = ((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    f();
  } finally {
    console.log = log;
    process.stdout.write = write;
    if (isTTY) Object.defineProperty(process.stdout, "isTTY", isTTY);
    else delete (process.stdout as { isTTY?: boolean }).isTTY;
  }
  return { logs, writes };
}

test("liveLine outside a kernel, stdout not a terminal: first update, then at most one line per 5 s, then done", () => {
  const out = printed(false, () => {
    const line = liveLine();
    line.update("step 1"); // shown: the first update
    line.update("step 2"); // within 5 s of the last line: not shown
    line.done("finished");
    line.update("step 3"); // after done: ignored
    line.done("again");
  });
  assert.deepEqual(out, { logs: ["step 1", "finished"], writes: [] });
  // done() without text shows the latest update if it was not shown; nothing at all for a line never used.
  const latest = printed(false, () => {
    const line = liveLine();
    line.update("a");
    line.update("b");
    line.done();
    liveLine().done();
  });
  assert.deepEqual(latest, { logs: ["a", "b"], writes: [] });
});

test("liveLine outside a kernel, stdout a terminal: one line rewritten in place, ended by done", () => {
  const out = printed(true, () => {
    const line = liveLine();
    line.update("step 1");
    line.update("step 2"); // within 250 ms: not shown
    line.done("finished");
  });
  assert.deepEqual(out, { logs: [], writes: ["\r\x1b[Kstep 1", "\r\x1b[Kfinished\n"] });
});
