import assert from "node:assert/strict";
import { describe, it, type TestContext, test } from "node:test";
import { main, parseTrainArgs } from "../src/cli/cli";
import {
  type ConfigOverrides,
  makeConfig,
  overridesOf,
  type PresetName,
  type SedConfig,
  type TrainConfig,
} from "../src/config/config";
import { TaskError } from "../src/data/tasks";

describe("makeConfig presets", () => {
  it("paper preset equals the paper's settings", () => {
    const c = makeConfig({ preset: "paper" });
    const expected: Partial<TrainConfig> = {
      preset: "paper",
      op: "add",
      seed: 42,
      p: 97,
      frac: 0.5,
      d: 128,
      nHeads: 4,
      dff: 256,
      layers: 2,
      batch: 512,
      lr: 1e-3,
      beta1: 0.9,
      beta2: 0.98,
      eps: 1e-8,
      weightDecay: 1,
      clip: 1,
      maxSteps: 8000,
      checkpointEvery: 25,
      stopAfterEvals: 20,
    };
    for (const [k, v] of Object.entries(expected)) {
      assert.equal(c[k as keyof TrainConfig], v, `paper.${k}`);
    }
    assert.equal(c.expr, undefined);
    // No preset given means paper.
    assert.deepEqual(makeConfig(), c);
  });

  it("quick preset changes only frac, maxSteps and saveEvery", () => {
    const paper = makeConfig({ preset: "paper" });
    const quick = makeConfig({ preset: "quick" });
    assert.equal(quick.preset, "quick");
    assert.equal(quick.frac, 0.8);
    assert.equal(quick.maxSteps, 3000);
    const differing = Object.keys(paper).filter(
      (k) => paper[k as keyof TrainConfig] !== quick[k as keyof TrainConfig],
    );
    assert.deepEqual(differing.sort(), ["frac", "maxSteps", "preset", "saveEvery"]);
  });

  it("test preset is tiny", () => {
    const c = makeConfig({ preset: "test" });
    assert.equal(c.p, 23);
    assert.equal(c.d, 32);
    assert.equal(c.layers, 1);
    assert.equal(c.maxSteps, 150);
    assert.equal(c.saveEvery, 50);
    assert.equal(c.checkpointEvery, 25);
  });

  it("overrides win over the preset; undefined overrides are ignored", () => {
    const c = makeConfig({ preset: "test", lr: 0.01, seed: 3, op: "mul", maxSteps: undefined });
    assert.equal(c.lr, 0.01);
    assert.equal(c.seed, 3);
    assert.equal(c.op, "mul");
    assert.equal(c.maxSteps, 150);
    assert.deepEqual(overridesOf(c), { lr: 0.01 });
    assert.deepEqual(overridesOf(makeConfig({ preset: "test", seed: 3 })), {});
  });

  it("an expression config has no op", () => {
    const c = makeConfig({ preset: "test", expr: "a^2 + a*b" });
    assert.equal(c.op, undefined);
    assert.equal(c.expr, "a^2 + a*b");
  });
});

describe("makeConfig validation names the field", () => {
  const cases: [string, Omit<Partial<TrainConfig>, "preset"> & { preset?: string }, RegExp][] = [
    ["frac 0", { frac: 0 }, /config\.frac.*got 0\b/],
    ["frac 1", { frac: 1 }, /config\.frac.*got 1\b/],
    ["frac 1.5", { frac: 1.5 }, /config\.frac.*got 1\.5/],
    ["frac NaN", { frac: Number.NaN }, /config\.frac/],
    ["p 2", { p: 2 }, /\bp must be an integer ≥ 3.*got 2\b/],
    ["p 9.5", { p: 9.5 }, /\bp must be an integer.*got 9\.5/],
    [
      "d not divisible by nHeads",
      { d: 30, nHeads: 4 },
      /config\.d \(30\).*divisible by config\.nHeads \(4\)/,
    ],
    ["nHeads 0", { nHeads: 0 }, /config\.nHeads must be a positive integer/],
    ["batch 1.5", { batch: 1.5 }, /config\.batch must be a positive integer, got 1\.5/],
    ["maxSteps 0", { maxSteps: 0 }, /config\.maxSteps/],
    ["seed 1.5", { seed: 1.5 }, /config\.seed/],
    ["saveEvery -1", { saveEvery: -1 }, /config\.saveEvery/],
    ["lr 0", { lr: 0 }, /config\.lr must be a positive number/],
    ["lr Infinity", { lr: Number.POSITIVE_INFINITY }, /config\.lr/],
    ["eps -1", { eps: -1 }, /config\.eps/],
    ["beta2 1", { beta2: 1 }, /config\.beta2 must be in \[0, 1\)/],
    ["beta1 -0.1", { beta1: -0.1 }, /config\.beta1/],
    ["weightDecay -1", { weightDecay: -1 }, /config\.weightDecay/],
    ["clip -1", { clip: -1 }, /config\.clip/],
    ["unknown preset", { preset: "huge" }, /unknown preset "huge"; choose one of paper, quick, test/],
    ["both op and expr", { op: "add", expr: "a*b" }, /op.*expr.*not both/],
    ["unknown op", { op: "div" }, /unknown op 'div'/],
    ["unparsable expression", { expr: "a +" }, /cannot parse expression 'a \+'/],
    ["expression with a foreign symbol", { expr: "a + c" }, /unknown symbol.*'c'/],
    ["expression with division", { expr: "a / b" }, /division/],
  ];
  for (const [label, overrides, re] of cases) {
    it(label, () => {
      assert.throws(() => makeConfig({ preset: "test", ...overrides } as ConfigOverrides), re);
    });
  }

  it("task errors are TaskErrors", () => {
    assert.throws(() => makeConfig({ expr: "a +" }), TaskError);
    assert.throws(() => makeConfig({ p: 2 }), TaskError);
  });

  it("the preset name itself must be known", () => {
    assert.throws(() => makeConfig({ preset: "nope" as PresetName }), /unknown preset "nope"/);
  });
});

describe("parseTrainArgs", () => {
  it("maps every flag onto the config", () => {
    const r = parseTrainArgs([
      "--preset",
      "test",
      "--op",
      "mul",
      "--seed",
      "3",
      "--p",
      "31",
      "--frac",
      "0.6",
      "--steps",
      "200",
      "--lr",
      "0.01",
      "--wd",
      "0.5",
      "--batch",
      "64",
      "--checkpoint-every",
      "10",
      "--force",
      "--no-checkpoint",
      "--out",
      "/tmp/somewhere",
      "--quiet",
    ]);
    assert.deepEqual(
      r.config,
      makeConfig({
        preset: "test",
        op: "mul",
        seed: 3,
        p: 31,
        frac: 0.6,
        maxSteps: 200,
        lr: 0.01,
        weightDecay: 0.5,
        batch: 64,
        checkpointEvery: 10,
      }),
    );
    assert.equal(r.force, true);
    assert.equal(r.checkpoint, false);
    assert.equal(r.out, "/tmp/somewhere");
    assert.equal(r.quiet, true);
  });

  it("defaults: paper preset, add, seed 42, checkpoints on", () => {
    const r = parseTrainArgs([]);
    assert.deepEqual(r.config, makeConfig());
    assert.equal(r.force, false);
    assert.equal(r.checkpoint, true);
    assert.equal(r.out, undefined);
    assert.equal(r.quiet, false);
  });

  it("accepts --expr", () => {
    assert.equal(parseTrainArgs(["--expr", "a^3 + a*b"]).config.expr, "a^3 + a*b");
  });

  const bad: [string[], RegExp][] = [
    [["--seed", "abc"], /--seed expects an integer, got "abc"/],
    [["--seed", "1.5"], /--seed expects an integer, got "1\.5"/],
    [["--steps", "1e400"], /--steps expects an integer/],
    [["--lr", "fast"], /--lr expects a number, got "fast"/],
    [["--lr", " "], /--lr expects a number/],
    [["--batch", "12x"], /--batch expects an integer/],
    [["--bogus"], /Unknown option '--bogus'/],
    [["--op", "add", "--expr", "a*b"], /give --op or --expr, not both/],
    [["--preset", "huge"], /unknown preset "huge"/],
    [["--frac", "1.5"], /config\.frac/],
    [["--lr=-1"], /config\.lr must be a positive number/],
    [["--p", "2"], /\bp must be an integer ≥ 3/],
    [["--op", "div"], /unknown op 'div'/],
  ];
  for (const [args, re] of bad) {
    it(`rejects ${args.join(" ")}`, () => {
      assert.throws(() => parseTrainArgs(args), re);
    });
  }
});

describe("main", () => {
  function quiet(t: TestContext) {
    const log = t.mock.method(console, "log", () => {});
    const error = t.mock.method(console, "error", () => {});
    const text = (m: typeof log) => m.mock.calls.map((c) => c.arguments.join(" ")).join("\n");
    return { out: () => text(log), err: () => text(error) };
  }

  it("help returns 0 and prints usage", async (t) => {
    const io = quiet(t);
    assert.equal(await main(["help"]), 0);
    assert.match(io.out(), /Usage:/);
  });

  it("train --help returns 0", async (t) => {
    const io = quiet(t);
    assert.equal(await main(["train", "--help"]), 0);
    assert.match(io.out(), /train options:/);
  });

  it("no command prints usage and returns 1", async (t) => {
    const io = quiet(t);
    assert.equal(await main([]), 1);
    assert.match(io.out(), /Usage:/);
  });

  it("an unknown command returns 2", async (t) => {
    const io = quiet(t);
    assert.equal(await main(["nope"]), 2);
    assert.match(io.err(), /unknown command "nope"/);
  });

  it("a usage error in train returns 2 with the message", async (t) => {
    const io = quiet(t);
    assert.equal(await main(["train", "--seed", "x"]), 2);
    assert.match(io.err(), /sedlab: --seed expects an integer, got "x"/);
    assert.equal(await main(["train", "--op", "div"]), 2);
    assert.match(io.err(), /unknown op 'div'/);
  });
});

test("unknown config fields are rejected with a suggestion (a typo must not silently change the run id)", () => {
  assert.throws(
    () => makeConfig({ weightdecay: 0 } as unknown as ConfigOverrides),
    /unknown field config\.weightdecay \(did you mean weightDecay\?\)/,
  );
  assert.throws(
    () => makeConfig({ sed: { windw: 5 } as unknown as Partial<SedConfig> }),
    /config\.sed\.windw/,
  );
});
