import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { type ConfigOverrides, makeConfig } from "../src/config/config";
import { makeDataset, makeTask } from "../src/data/tasks";
import { interventionObserver } from "../src/intervention/observer";
import { projectOnGaussian, projectOnWindow } from "../src/intervention/projection";
import { groupRange, makeLayout } from "../src/model/params";
import { runId } from "../src/records/records";
import type { InterventionResult } from "../src/records/results";
import type { RunRecord } from "../src/records/schema";
import { initBackend } from "../src/runs/backend";
import { trainRun } from "../src/runs/trainRun";
import { RowWindow } from "../src/sed/rollingSvd";
import type { TrainObserver } from "../src/train/observer";
import type { UpdateHookContext } from "../src/train/optim";
import { combine, dot, dots, norm, orthonormalize, project } from "../src/util/linalg";
import { Rng } from "../src/util/rng";
import { gradContext, maxRelErr } from "./helpers";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "sedlab-ivn-"));
after(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));
const fresh = (l: string) => fs.mkdtempSync(path.join(tmpRoot, l));
before(async () => {
  await initBackend();
});

const randomRows = (n: number, P: number, seed: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.fillNormal(new Float32Array(P)));
};

function filledWindow(W: number, P: number, seed: number): RowWindow {
  const w = new RowWindow(W, P);
  for (const r of randomRows(W, P, seed)) w.push(r);
  return w;
}

describe("projections", () => {
  const P = 301;
  it("projectOnWindow equals projecting on the window's explicit top-k SVD basis", () => {
    const w = filledWindow(8, P, 1);
    const [g] = randomRows(1, P, 2);
    const V = w.svd(3).basis;
    for (const mode of ["keep", "remove"] as const) {
      const got = projectOnWindow(w, 3, g, mode, new Float32Array(P));
      const want = project(g, V, mode);
      const out = new Float32Array(P);
      projectOnWindow(w, 3, g, mode, out);
      assert.ok(maxRelErr(out, want) < 1e-4, `${mode}: ${maxRelErr(out, want)}`);
      assert.ok(got.keptFraction > 0 && got.keptFraction < 1);
    }
  });

  it("keep and remove are complementary and idempotent", () => {
    const w = filledWindow(6, P, 3);
    const [g] = randomRows(1, P, 4);
    const k = new Float32Array(P);
    const r = new Float32Array(P);
    projectOnWindow(w, 3, g, "keep", k);
    projectOnWindow(w, 3, g, "remove", r);
    const sum = k.map((x, i) => x + r[i]);
    assert.ok(maxRelErr(sum, g) < 1e-5);
    const kk = new Float32Array(P);
    const kr = new Float32Array(P);
    assert.ok(projectOnWindow(w, 3, k, "keep", kk).keptFraction > 0.9999);
    projectOnWindow(w, 3, k, "remove", kr);
    assert.ok(maxRelErr(kk, k) < 1e-4);
    assert.ok(norm(kr) < 1e-4 * norm(k), `remove∘keep should vanish, got ${norm(kr)}`);
  });

  it("the applied row's Gram entries from projectOnWindow equal the direct dot products", () => {
    const w = filledWindow(5, P, 5);
    const [g] = randomRows(1, P, 6);
    for (const mode of ["keep", "remove"] as const) {
      const out = new Float32Array(P);
      const { applied } = projectOnWindow(w, 2, g, mode, out);
      const direct = w.rows().map((r) => dot(r, out));
      direct.forEach((d, t) => {
        assert.ok(Math.abs(d - applied.dots[t]) < 1e-4 * norm(out) * norm(w.rows()[t]), `${mode} dot ${t}`);
      });
      assert.ok(Math.abs(applied.self - dot(out, out)) < 1e-9 * dot(out, out));
    }
  });

  it("RowWindow.push with known dots keeps the same Gram matrix as a plain push", () => {
    const rows = randomRows(9, P, 7);
    const a = new RowWindow(4, P);
    const b = new RowWindow(4, P);
    for (const r of rows) {
      const known = { dots: dots(b.rows(), r), self: dot(r, r) };
      a.push(r);
      b.push(r, known);
      const ga = a.gram();
      const gb = b.gram();
      ga.forEach((x, i) => {
        assert.ok(Math.abs(x - gb[i]) <= 1e-9 * Math.abs(ga[0]), `gram entry ${i}`);
      });
    }
    assert.throws(() => b.push(rows[0], { dots: [1], self: 1 }), /known dots/);
  });

  it("projectOnGaussian is the projector onto the orthonormalised Gaussian frame (k = 3's own path and others)", () => {
    const rng = new Rng(8);
    const [g] = randomRows(1, P, 9);
    for (const k of [2, 3, 4]) {
      const z = rng.fillNormalPolar(new Float32Array(k * P));
      const Q = orthonormalize(Array.from({ length: k }, (_, j) => z.subarray(j * P, (j + 1) * P)));
      assert.equal(Q.length, k);
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) assert.ok(Math.abs(dot(Q[i], Q[j]) - (i === j ? 1 : 0)) < 1e-6);
      }
      for (const mode of ["keep", "remove"] as const) {
        const out = g.slice();
        const kept = projectOnGaussian(z, k, out, mode);
        assert.ok(maxRelErr(out, project(g, Q, mode)) < 1e-4, `k ${k} ${mode}`);
        assert.ok(Math.abs(kept - norm(project(g, Q, "keep")) / norm(g)) < 1e-5, `k ${k}`);
      }
    }
  });

  it("dots and combine agree with dot and axpy", () => {
    const rows = randomRows(7, P, 10);
    const [x] = randomRows(1, P, 11);
    const d = dots(rows, x);
    rows.forEach((r, t) => {
      assert.ok(Math.abs(d[t] - dot(r, x)) < 1e-9 * norm(r) * norm(x));
    });
    const coef = [0.5, 0, -1, 2, 3, 0.25, -0.5];
    const acc = combine(rows, coef, new Float64Array(P));
    for (let i = 0; i < P; i++) {
      const want = rows.reduce((s, r, t) => s + coef[t] * r[i], 0);
      assert.ok(Math.abs(acc[i] - want) < 1e-9);
    }
  });

  it("fillNormalPolar's inlined generator draws exactly the stream of u32() (so records stay reproducible)", () => {
    const reference = (r: Rng, out: Float32Array) => {
      let i = 0;
      while (i < out.length) {
        const x = (r.u32() >>> 8) * 2 ** -23 - 1;
        const y = (r.u32() >>> 8) * 2 ** -23 - 1;
        const s = x * x + y * y;
        if (s >= 1 || s === 0) continue;
        const f = Math.sqrt((-2 * Math.log(s)) / s);
        out[i++] = x * f;
        if (i < out.length) out[i++] = y * f;
      }
      return out;
    };
    for (const len of [1, 2, 7, 10_001]) {
      const a = new Rng(15);
      const b = new Rng(15);
      assert.deepEqual(a.fillNormalPolar(new Float32Array(len)), reference(b, new Float32Array(len)));
      assert.deepEqual(a.state(), b.state());
    }
  });

  it("fillNormalPolar draws standard normals", () => {
    const z = new Rng(12).fillNormalPolar(new Float32Array(200_001));
    let m = 0;
    let v = 0;
    for (const x of z) {
      m += x;
      v += x * x;
    }
    m /= z.length;
    v = v / z.length - m * m;
    assert.ok(Math.abs(m) < 0.01, `mean ${m}`);
    assert.ok(Math.abs(v - 1) < 0.01, `variance ${v}`);
  });
});

describe("intervention hook", () => {
  const config = makeConfig({ preset: "test", intervention: { mode: "keep-sed", window: 4 } });
  const layout = makeLayout(config);
  const attn = groupRange(layout, "attn");
  const task = makeTask({ op: "add", p: config.p });
  const dataset = makeDataset(task, config.frac, config.seed);

  const gradCtx = (grad: Float32Array, step: number) => gradContext(layout, grad, step);

  for (const mode of ["keep-sed", "remove-sed", "keep-random", "remove-random"] as const) {
    it(`${mode} changes only the attention group's gradient, and only after W natural steps`, () => {
      const cfg = makeConfig({ preset: "test", intervention: { mode, window: 4 } });
      const obs = interventionObserver();
      obs.setup?.({ config: cfg, layout, dataset });
      const rng = new Rng(13);
      for (let step = 1; step <= 7; step++) {
        const g = rng.fillNormal(new Float32Array(layout.size));
        const before = g.slice();
        obs.hooks?.onGrad?.(gradCtx(g, step));
        for (let i = 0; i < g.length; i++) {
          const inAttn = i >= attn.start && i < attn.end;
          if (!inAttn || step <= 4) assert.equal(g[i], before[i], `${mode} step ${step} index ${i}`);
        }
        const a = g.subarray(attn.start, attn.end);
        const b = before.subarray(attn.start, attn.end);
        if (step > 4) assert.ok(maxRelErr(a, b) > 1e-3, `${mode} step ${step}: attention gradient unchanged`);
      }
      const res = obs.result?.() as InterventionResult;
      assert.equal(res.firstProjectedStep, 5);
      assert.equal(res.projectedSteps, 3);
    });
  }

  it("update projection writes θ_before + the projected attention displacement, other groups untouched", () => {
    const cfg = makeConfig({
      preset: "test",
      intervention: { mode: "keep-random", projection: "update", window: 2 },
    });
    const obs = interventionObserver();
    obs.setup?.({ config: cfg, layout, dataset });
    const rng = new Rng(14);
    for (let step = 1; step <= 4; step++) {
      const before = rng.fillNormal(new Float32Array(layout.size));
      const after = rng.fillNormal(new Float32Array(layout.size));
      const natural = after.slice();
      const ctx: UpdateHookContext = { step, layout, before, after };
      obs.hooks?.onUpdate?.(ctx);
      for (let i = 0; i < after.length; i++) {
        if (i < attn.start || i >= attn.end || step <= 2) assert.equal(after[i], natural[i]);
      }
      if (step > 2) {
        // keep-random with rank k = 3: the applied displacement is the natural one projected onto a fresh Gaussian
        // rank-3 frame, so ‖d‖²/‖dn‖² ~ Beta(k/2, (P − k)/2) ≈ (k/P)·χ²₃/3 with P = 4096 attention entries:
        // ‖d‖/‖dn‖ ≈ √(k/P) = 0.027 (measured here: 0.0156 at step 3, 0.0406 at step 4). The bounds 0.05 and 2.75
        // × √(k/P) fail for a good projection with probability 2e-4 per step whatever the frame's draws, and catch
        // no projection (1), a zeroed update (0) or one of rank ≳ 20 (√(20/P) = 0.070 on average).
        const d = new Float32Array(attn.end - attn.start).map(
          (_, i) => after[attn.start + i] - before[attn.start + i],
        );
        const dn = new Float32Array(d.length).map((_, i) => natural[attn.start + i] - before[attn.start + i]);
        const expected = Math.sqrt(3 / d.length);
        const ratio = norm(d) / norm(dn);
        assert.equal(d.length, 4096);
        assert.ok(
          ratio > 0.05 * expected && ratio < 2.75 * expected,
          `step ${step}: ‖d‖/‖dn‖ = ${ratio}, outside [0.05, 2.75] × √(3/P) = ${expected}`,
        );
      }
    }
  });
});

describe("intervention runs", () => {
  const base: ConfigOverrides = { preset: "test", seed: 3, maxSteps: 120 };
  const strip = (r: RunRecord) => {
    const o: Record<string, unknown> = { ...r };
    for (const k of ["date", "wallSeconds", "id", "config"]) delete o[k];
    if (o.intervention) o.intervention = { ...(o.intervention as object), hookSeconds: 0 };
    return o;
  };

  it("control trains bit for bit like a run without intervention", async () => {
    const plain = await trainRun(makeConfig(base), { recordDir: null, checkpointDir: null });
    const control = await trainRun(makeConfig({ ...base, intervention: { mode: "control" } }), {
      recordDir: null,
      checkpointDir: null,
    });
    assert.deepEqual(control.metrics, plain.metrics);
    assert.equal((control.intervention as InterventionResult).projectedSteps, 0);
  });

  it("keep-sed records the subspace drift, changes training, and resumes to the identical record", async () => {
    const config = makeConfig({ ...base, intervention: { mode: "keep-sed" } });
    const whole = await trainRun(config, { recordDir: null, checkpointDir: null });
    const plain = await trainRun(makeConfig(base), { recordDir: null, checkpointDir: null });
    assert.notDeepEqual(whole.metrics, plain.metrics);
    const res = whole.intervention as InterventionResult;
    assert.equal(res.firstProjectedStep, 21);
    assert.equal(res.projectedSteps, whole.steps - 20);
    assert.ok(res.drift.length > 0 && res.drift.every((d) => d.anglesDeg.length === 3));
    // Each applied row lies in the top-k span of the buffer, itself inside the previous buffer's span: so every
    // attention gradient keep-sed applies stays in the span of the first W natural gradients.
    const seen: Float32Array[] = [];
    const spy: TrainObserver = {
      name: "spy",
      hooks: { onGrad: (ctx) => void seen.push(ctx.grad("attn").slice()) },
    };
    await trainRun(config, { recordDir: null, checkpointDir: null, observers: [spy] });
    const Q = orthonormalize(seen.slice(0, 20));
    assert.equal(Q.length, 20);
    for (const g of seen.slice(20)) {
      const r = project(g, Q, "remove");
      assert.ok(norm(r) < 1e-3 * norm(g), `row outside the first window's span: ${norm(r) / norm(g)}`);
    }
    const outside = project(seen[10], orthonormalize(seen.slice(11, 20)), "remove");
    assert.ok(
      norm(outside) > 0.1 * norm(seen[10]),
      "natural gradients are not already in one another's span",
    );
    assert.ok(res.kept.every((k) => k.keptFraction > 0 && k.keptFraction < 1));
    const ck = fresh("ck");
    await assert.rejects(trainRun(config, { recordDir: null, checkpointDir: ck, stopAtStep: 73 }));
    const resumed = await trainRun(config, { recordDir: null, checkpointDir: ck });
    assert.deepEqual(strip(resumed), strip(whole));
  });

  it("remove-random resumes to the identical record (random stream checkpointed)", async () => {
    const config = makeConfig({ ...base, intervention: { mode: "remove-random" } });
    const whole = await trainRun(config, { recordDir: null, checkpointDir: null });
    const ck = fresh("ck");
    await assert.rejects(trainRun(config, { recordDir: null, checkpointDir: ck, stopAtStep: 50 }));
    const resumed = await trainRun(config, { recordDir: null, checkpointDir: ck });
    assert.deepEqual(strip(resumed), strip(whole));
  });
});

describe("intervention config", () => {
  it("names runs by mode, projection and rank", () => {
    const id = (o: ConfigOverrides) => runId(makeConfig({ seed: 42, ...o }));
    assert.equal(id({ intervention: { mode: "keep-sed" } }), "add_p97_paper_seed42_keep-sed");
    assert.equal(
      id({ intervention: { mode: "remove-sed", projection: "update" } }),
      "add_p97_paper_seed42_remove-sed-update",
    );
    assert.equal(
      id({ intervention: { mode: "keep-random", rank: 10 } }),
      "add_p97_paper_seed42_keep-random-r10",
    );
    assert.match(
      id({ intervention: { mode: "control" }, weightDecay: 0 }),
      /^add_p97_paper_seed42_control_[0-9a-f]{8}$/,
    );
    assert.match(
      id({ intervention: { mode: "control", window: 10 } }),
      /^add_p97_paper_seed42_control_[0-9a-f]{8}$/,
    );
  });

  it("rejects bad settings with errors naming them", () => {
    assert.throws(
      () => makeConfig({ intervention: { mode: "keep" as never } }),
      /intervention\.mode must be one of/,
    );
    assert.throws(() => makeConfig({ intervention: { projection: "grad" as never } }), /projection/);
    assert.throws(() => makeConfig({ intervention: { rank: 0 } }), /rank must be a positive integer/);
    assert.throws(
      () => makeConfig({ intervention: { mode: "keep-sed", rank: 30 } }),
      /cannot exceed its window/,
    );
    assert.throws(
      () => makeConfig({ intervention: { modes: "x" } as never }),
      /unknown field config\.intervention\.modes/,
    );
  });
});
