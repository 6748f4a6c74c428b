// The intervention observer (paper §5): each step after the first W, it replaces the attention group's clipped
// gradient (or its AdamW displacement) by its projection onto, or away from, a rank-k subspace (projection.ts),
// and records what it did: `record.intervention`.
import type { InterventionConfig } from "../config/config";
import { groupRange, type Range } from "../model/params";
import type { InterventionResult } from "../records/results";
import { RowWindow, type RowWindowState } from "../sed/rollingSvd";
import type { TrainObserver } from "../train/observer";
import type { GradHookContext, UpdateHookContext } from "../train/optim";
import { principalAngles } from "../util/linalg";
import { Rng, type RngState } from "../util/rng";
import { projectOnGaussian, projectOnWindow } from "./projection";

interface SavedState {
  seen: number;
  window: RowWindowState["json"] | null;
  rng: RngState;
  result: InterventionResult;
  keptSum: number;
  keptCount: number;
}

/** The observer for `config.intervention`; its result lands in `record.intervention`. */
export function interventionObserver(): TrainObserver {
  let cfg: InterventionConfig;
  let attn: Range;
  /** SED modes only: the last W applied rows. */
  let window: RowWindow | undefined;
  /** Rows seen (natural or projected). */
  let seen = 0;
  let rng: Rng;
  /** Random modes: the k Gaussian columns drawn each step. */
  let frame: Float32Array;
  let firstBasis: Float32Array[] | undefined;
  let keptSum = 0;
  let keptCount = 0;
  let result: InterventionResult;
  const keepOrRemove = (): "keep" | "remove" => (cfg.mode.startsWith("keep") ? "keep" : "remove");

  /** Replace `row` (a live view) by its projection and remember the applied row. */
  /** Returns whether the row was changed (false for control and during the warm-up). */
  const apply = (step: number, row: Float32Array): boolean => {
    if (cfg.mode === "control") return false;
    const t0 = performance.now();
    // Natural rows until W have been seen (random modes too, as the author's script does).
    const warm = seen >= cfg.window;
    if (!warm) window?.push(row);
    else {
      let kept: number;
      if (window) {
        firstBasis ??= window.svd(cfg.rank).basis;
        const proj = projectOnWindow(window, cfg.rank, row, keepOrRemove());
        kept = proj.keptFraction;
        window.push(row, proj.applied); // the buffer holds the rows actually applied
      } else {
        kept = projectOnGaussian(rng.fillNormalPolar(frame), cfg.rank, row, keepOrRemove());
      }
      result.firstProjectedStep ??= step;
      result.projectedSteps += 1;
      keptSum += kept;
      keptCount += 1;
    }
    seen += 1;
    result.hookSeconds += (performance.now() - t0) / 1000;
    return warm;
  };

  return {
    name: "intervention",
    setup({ config, layout }) {
      if (!config.intervention) throw new Error("interventionObserver needs config.intervention");
      cfg = config.intervention;
      attn = groupRange(layout, "attn");
      const sed = cfg.mode === "keep-sed" || cfg.mode === "remove-sed";
      window = sed ? new RowWindow(cfg.window, attn.end - attn.start) : undefined;
      // Own stream, so the frames never change the training run's other randomness.
      rng = new Rng(config.seed).fork("intervention");
      frame = new Float32Array(cfg.mode.endsWith("-random") ? cfg.rank * (attn.end - attn.start) : 0);
      result = {
        mode: cfg.mode,
        projection: cfg.projection,
        rank: cfg.rank,
        firstProjectedStep: null,
        projectedSteps: 0,
        drift: [],
        kept: [],
        hookSeconds: 0,
      };
    },
    hooks: {
      onGrad(ctx: GradHookContext) {
        if (cfg.projection === "gradient") apply(ctx.step, ctx.grad("attn"));
      },
      onUpdate(ctx: UpdateHookContext) {
        if (cfg.projection !== "update") return;
        // Project the attention displacement (weight decay included) and write θ_before + projected back;
        // Adam's moments keep the natural gradient (the suspected source of the paper's artefact).
        const before = ctx.before.subarray(attn.start, attn.end);
        const after = ctx.after.subarray(attn.start, attn.end);
        const delta = new Float32Array(after.length);
        for (let i = 0; i < delta.length; i++) delta[i] = after[i] - before[i];
        if (apply(ctx.step, delta)) for (let i = 0; i < delta.length; i++) after[i] = before[i] + delta[i];
      },
    },
    onEval({ step }) {
      if (keptCount > 0) {
        result.kept.push({ step, keptFraction: keptSum / keptCount });
        keptSum = 0;
        keptCount = 0;
      }
      if (firstBasis && window) {
        const now = window.svd(cfg.rank).basis;
        result.drift.push({
          step,
          anglesDeg: principalAngles(firstBasis, now).map((a) => (a * 180) / Math.PI),
        });
      }
    },
    state() {
      const arrays: Record<string, Float32Array> = {};
      const ws = window?.state();
      if (ws) {
        arrays.rows = ws.arrays.rows;
        if (ws.arrays.gram) arrays.gram = ws.arrays.gram;
      }
      firstBasis?.forEach((v, i) => {
        arrays[`first${i}`] = v;
      });
      const json: SavedState = {
        seen,
        window: ws?.json ?? null,
        rng: rng.state(),
        result,
        keptSum,
        keptCount,
      };
      return { json, arrays };
    },
    restore({ json, arrays }) {
      const s = json as SavedState | undefined;
      if (!s) return;
      if (s.window && window)
        window.restore({ json: s.window, arrays: { rows: arrays.rows, gram: arrays.gram } });
      seen = s.seen;
      rng = Rng.fromState(s.rng);
      result = s.result;
      keptSum = s.keptSum;
      keptCount = s.keptCount;
      const first = Object.keys(arrays)
        .filter((k) => k.startsWith("first"))
        .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
        .map((k) => arrays[k]);
      firstBasis = first.length > 0 ? first : undefined;
    },
    result: () => result,
  };
}
