// The intervention observer (paper §5): each step after the first W, it replaces the attention group's clipped
// gradient (or its AdamW displacement) by its projection onto, or away from, a rank-k subspace (projection.ts),
// or applies one of the attention controls (attentionControls.ts, grokfast.ts), and records what it did:
// `record.intervention`.
import { type InterventionConfig, isGrokfastMode } from "../config/config";
import { groupRange, type Range } from "../model/params";
import type { InterventionResult } from "../records/results";
import { RowWindow, type RowWindowState } from "../sed/rollingSvd";
import type { TrainObserver } from "../train/observer";
import type { GradHookContext, UpdateHookContext } from "../train/optim";
import { normalBuffer } from "../util/frameBuffer";
import { principalAngles } from "../util/linalg";
import { Rng, type RngState } from "../util/rng";
import { decayRange, holdRange, matchNorm, norm2, scaleRange } from "./attentionControls";
import { GrokfastFilter, type GrokfastState } from "./grokfast";
import { projectOnGaussian, projectOnWindow } from "./projection";

interface SavedState {
  seen: number;
  window: RowWindowState["json"] | null;
  rng: RngState;
  result: InterventionResult;
  keptSum: number;
  keptCount: number;
  grokfastStarted?: boolean;
}

/** The modes that edit the AdamW step itself (onUpdate), and from which step. */
const UPDATE_EDITS = new Set([
  "freeze-attention",
  "freeze-attention-at-init",
  "zero-attention-gradient",
  "scale-attention-lr",
]);

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
  let grokfast: GrokfastFilter | undefined;
  /** AdamW's decay factor, as optim.ts computes it. */
  let decay = 1;
  const keepOrRemove = (): "keep" | "remove" => (cfg.mode.startsWith("keep") ? "keep" : "remove");
  const isRandom = (): boolean =>
    cfg.mode === "keep-random" || cfg.mode === "remove-random" || cfg.mode === "keep-random-norm-matched";
  const noteChanged = (step: number, t0: number) => {
    result.firstProjectedStep ??= step;
    result.projectedSteps += 1;
    result.hookSeconds += (performance.now() - t0) / 1000;
  };

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
      } else if (cfg.mode === "keep-random-norm-matched") {
        const full = norm2(row);
        kept = projectOnGaussian(rng.fillNormalPolar(frame), cfg.rank, row, "keep");
        matchNorm(row, full); // the kept direction at the clipped gradient's size, before Adam sees it
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
      // In the polar kernel's memory, with room for the gradient: each step's frame is drawn and projected on
      // there, bitwise the JavaScript.
      frame = isRandom()
        ? normalBuffer(cfg.rank * (attn.end - attn.start), attn.end - attn.start)
        : new Float32Array(0);
      decay = 1 - config.lr * config.weightDecay;
      if (isGrokfastMode(cfg.mode)) {
        const size = cfg.mode === "grokfast" ? layout.size : attn.end - attn.start;
        grokfast = new GrokfastFilter(size, cfg.grokfastAlpha ?? 0.98, cfg.grokfastLambda ?? 2);
      }
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
        if (grokfast) {
          const t0 = performance.now();
          grokfast.apply(cfg.mode === "grokfast" ? ctx.all : ctx.grad("attn"));
          noteChanged(ctx.step, t0);
        } else if (cfg.projection === "gradient" && !UPDATE_EDITS.has(cfg.mode))
          apply(ctx.step, ctx.grad("attn"));
      },
      onUpdate(ctx: UpdateHookContext) {
        if (UPDATE_EDITS.has(cfg.mode)) {
          // Steps 1..W train naturally (as the projections do), except freeze-attention-at-init.
          if (cfg.mode !== "freeze-attention-at-init" && ctx.step <= cfg.window) return;
          const t0 = performance.now();
          if (cfg.mode === "zero-attention-gradient") decayRange(ctx.before, ctx.after, attn, decay);
          else if (cfg.mode === "scale-attention-lr")
            scaleRange(ctx.before, ctx.after, attn, cfg.lrScale ?? 1);
          else holdRange(ctx.before, ctx.after, attn);
          noteChanged(ctx.step, t0);
          return;
        }
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
      const gf = grokfast?.state();
      if (gf) arrays.grokfastEma = gf.ema;
      const json: SavedState = {
        seen,
        window: ws?.json ?? null,
        rng: rng.state(),
        result,
        keptSum,
        keptCount,
        ...(gf ? { grokfastStarted: gf.started } : {}),
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
      if (grokfast) {
        const gs: GrokfastState = { started: s.grokfastStarted ?? false, ema: arrays.grokfastEma };
        grokfast.restore(gs);
      }
    },
    result: () => result,
  };
}
