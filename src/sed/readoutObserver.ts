// The readout observer (issue #18): what the SED directions are. At every eval the token embedding's power per
// frequency (key frequencies); at init, at the first SED measurement, at the first measurement after the grok
// step and at the end, the functional modes of the top update- and gradient-SED directions and of random ones
// (their null) with the author's composition probe (ridge R² on additive, discrete-log and cross-term features),
// the centroid PCs in the Fourier basis, and the per-example gradient SVD with its coupling R_k.
// It reads the SED bases through the SED observer's `onMeasure` (runs/observers.ts wires the two); it never
// changes training, and draws its random directions from its own stream.
import type { ReadoutConfig, SedConfig } from "../config/config";
import { allPairs, type Pairs, samplePairs, type Task } from "../data/tasks";
import { groupRange, type Layout } from "../model/params";
import type {
  ModeReadout,
  PerExampleReadout,
  RandomModeSummary,
  ReadoutPoint,
  ReadoutResult,
} from "../records/results";
import type { TrainObserver } from "../train/observer";
import { Rng, type RngState } from "../util/rng";
import { centroidMatrix, centroidPcs, pcFourierR2 } from "./centroidPcs";
import { type CentroidKind, disposeProbes, makeProbes, type Probes } from "./centroids";
import { coupling, response } from "./coupling";
import {
  type CompositionSample,
  compositionSample,
  modeField,
  modeReadout,
  residualField,
} from "./functionalModes";
import { embeddingPower } from "./keyFrequencies";
import type { SedMeasurement } from "./observer";
import { perExampleSvd } from "./perExample";
import { unitGaussians } from "./recorder";

const sig4 = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)) : x);

interface SavedState {
  result: ReadoutResult;
  rng: RngState;
  grokStep: number | null;
  postGrokDone: boolean;
}

export interface ReadoutObserver extends TrainObserver {
  /** Give to the SED observer: each measurement's bases. */
  onSedMeasure(m: SedMeasurement): void;
}

/** The observer for `config.readouts` (with `config.sed`); its result lands in `record.readouts`. */
export function readoutObserver(): ReadoutObserver {
  let cfg: ReadoutConfig;
  let sed: SedConfig;
  let layout: Layout;
  let task: Task;
  let grid: Pairs;
  let gradPairs: Pairs;
  let probes: Probes | undefined;
  let P = 0;
  let rng: Rng;
  let result: ReadoutResult;
  let grokStep: number | null = null;
  let postGrokDone = false;
  let last: SedMeasurement | undefined;
  let testPairs: { a: Int32Array; b: Int32Array };
  // The composition probe's design (a Gram of ~600 columns): built at the first readout that needs it, so its
  // cost is counted there, and never kept in the saved state.
  let composition: CompositionSample | null | undefined;

  const short = (m: ModeReadout): RandomModeSummary => ({
    answer: { peak: m.answer.peak, F: m.answer.F },
    sum: { peak: m.sum.peak, F: m.sum.F },
    a: { peak: m.a.peak, F: m.a.F },
    b: { peak: m.b.peak, F: m.b.F },
    log: m.log ? { peak: m.log.peak, F: m.log.F } : null,
    ...(m.composition ? { composition: m.composition } : {}),
  });

  /**
   * The per-example SVD at θ and its coupling R_k. At an SED measurement R uses that measurement's baseline (the
   * same probes, ε and random directions as the main coupling); at init, where there is none, a baseline of the
   * same size drawn from this observer's stream.
   */
  const perExample = (
    theta: Float32Array,
    baseline?: { medianRandom: number; eps: number },
  ): PerExampleReadout => {
    if (!probes) throw new Error("readout observer used before setup");
    const svd = perExampleSvd(layout, theta, gradPairs, sed.k);
    const kind = sed.centroid as CentroidKind;
    let R: number[];
    let medianRandom: number;
    if (baseline) {
      medianRandom = baseline.medianRandom;
      R = svd.directions.map(
        (v) => response(layout, theta, probes as Probes, v, { kind, eps: baseline.eps }) / medianRandom,
      );
    } else {
      const c = coupling(
        layout,
        theta,
        probes,
        { perExample: svd.directions },
        unitGaussians(rng, sed.randomDirs, P),
        {
          kind,
          epsRel: sed.epsRel,
        },
      );
      R = c.bases.perExample.R;
      medianRandom = c.medianRandom;
    }
    return {
      B: svd.B,
      sigma: svd.sigma,
      share: svd.sigma.map((s) => (svd.totalVariance > 0 ? (s * s) / svd.totalVariance : Number.NaN)),
      R,
      Rbar: R.reduce((s, x) => s + x, 0) / R.length,
      medianRandom,
      cosMean: svd.cosMean,
      meanGradNorm: svd.meanGradNorm,
    };
  };

  /** One readout point at `step` (θ: the parameters the SED bases, if any, were measured at). */
  const readout = (
    step: number,
    theta: Float32Array,
    reasons: ReadoutPoint["reasons"],
    m?: SedMeasurement,
  ) => {
    const bases = m?.bases;
    const t0 = performance.now();
    if (composition === undefined) composition = compositionSample(task, testPairs.a, testPairs.b);
    const base = residualField(layout, theta, grid);
    const fieldOf = (v: Float32Array) => modeField(layout, theta, v, grid, sed.epsRel, { base });
    const modes: ReadoutPoint["modes"] = {};
    const fields: NonNullable<ReadoutResult["fields"]> = {
      step,
      lo: task.lo,
      side: task.p - task.lo,
    };
    for (const src of ["update", "gradient"] as const) {
      const dirs = bases?.[src];
      if (!dirs) continue;
      modes[src] = dirs.map((v, k) => {
        const f = fieldOf(v);
        if (k === 0) fields[src] = Array.from(f, sig4);
        return modeReadout(f, task, grid, composition);
      });
    }
    const randomModes = unitGaussians(rng, cfg.randomModes, P).map((v) =>
      short(modeReadout(fieldOf(v), task, grid, composition)),
    );
    const { d } = layout.sizes;
    const pcs = centroidPcs(centroidMatrix(layout, theta, task), grid.a.length, 2 * d, cfg.pcs);
    const point: ReadoutPoint = {
      step,
      reasons,
      ...(Object.keys(modes).length ? { modes } : {}),
      randomModes,
      centroidPcs: { ...pcFourierR2(pcs.scores, task, grid), share: pcs.share },
      perExample: perExample(theta, m),
      seconds: 0,
    };
    point.seconds = Math.round((performance.now() - t0) / 100) / 10;
    result.points.push(point);
    if (fields.update || fields.gradient) result.fields = fields;
    result.seconds += (performance.now() - t0) / 1000;
  };

  /**
   * Readouts due at the SED measurement just made at `step`, if any. A measurement nothing was due at is kept
   * until the next one, so that the end (whose measurement may have been made at the last eval) can use it.
   */
  const atMeasurement = (step: number, end: boolean) => {
    if (!last || last.step !== step) {
      if (end && result.points.length) {
        // No measurement at the end step: the last point is the end's if it is at this step.
        const lp = result.points[result.points.length - 1];
        if (lp.step === step && !lp.reasons.includes("end")) lp.reasons.push("end");
      }
      return;
    }
    const done = result.points.length > 0 && result.points[result.points.length - 1].step === step;
    const reasons: ReadoutPoint["reasons"] = [];
    if (!result.points.some((p) => p.reasons.includes("first measurement")))
      reasons.push("first measurement");
    if (grokStep !== null && !postGrokDone && step >= grokStep) {
      reasons.push("post-grok");
      postGrokDone = true;
    }
    if (end) {
      if (done) {
        const lp = result.points[result.points.length - 1];
        if (!lp.reasons.includes("end")) lp.reasons.push("end");
        return;
      }
      reasons.push("end");
    }
    if (reasons.length && !done) readout(last.step, last.theta, reasons, last);
  };

  return {
    name: "readouts",
    onSedMeasure(m) {
      last = { ...m, theta: m.theta.slice() };
    },
    setup({ config, layout: l, dataset }) {
      if (!config.readouts || !config.sed)
        throw new Error("readoutObserver needs config.readouts and config.sed");
      cfg = config.readouts;
      sed = config.sed;
      layout = l;
      task = dataset.task;
      grid = allPairs(task);
      testPairs = { a: dataset.testA, b: dataset.testB };
      composition = undefined;
      const attn = groupRange(l, "attn");
      P = attn.end - attn.start;
      // The SED observer's own gradient batch and probes (same streams, so the same pairs); own random stream.
      const root = new Rng(config.seed).fork("sed");
      gradPairs = samplePairs(task, sed.gradBatch, root.fork("gradBatch"));
      probes = makeProbes(samplePairs(task, sed.probes, root.fork("probes")), config.p);
      rng = new Rng(config.seed).fork("readouts");
      result = { keyFrequencies: [], points: [], seconds: 0 };
    },
    onEval({ step, theta, metrics }) {
      const t0 = performance.now();
      result.keyFrequencies.push({ step, power: Array.from(embeddingPower(layout, theta), sig4) });
      result.seconds += (performance.now() - t0) / 1000;
      if (grokStep === null && metrics.testAcc >= 0.5) grokStep = step;
      if (step === 0) readout(0, theta, ["init"]);
      else atMeasurement(step, false);
    },
    finish({ step }) {
      atMeasurement(step, true);
    },
    dispose() {
      if (probes) disposeProbes(probes);
      probes = undefined;
    },
    state: () => ({ json: { result, rng: rng.state(), grokStep, postGrokDone } satisfies SavedState }),
    restore({ json }) {
      const s = json as SavedState | undefined;
      if (!s) return;
      result = s.result;
      rng = Rng.fromState(s.rng);
      grokStep = s.grokStep;
      postGrokDone = s.postGrokDone;
    },
    result: () => result,
  };
}
