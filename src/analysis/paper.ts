// The paper's numbers we put beside ours (Xu 2026, arXiv 2604.25143; see ../shared/paper/NOTES.md §3).
// Only what the paper or the author's repository states; null where a value was not published.

export const PAPER = {
  /** Mean grok step (first eval with test accuracy ≥ 0.5) over seeds 42, 137, 2024, PyTorch. */
  grokStep: { add: 3358 } as Record<string, number>,
  /** Update-SED R̄ peak: ≈ 9× for add, ≈ 3–3.5× for the others. */
  updatePeakRbar: { add: 9, sub: 3.25, mul: 3.25, sq_sum: 3.25 } as Record<string, number>,
  updatePeakText: { add: "≈ 9", sub: "≈ 3–3.5", mul: "≈ 3–3.5", sq_sum: "≈ 3–3.5" } as Record<string, string>,
  /** Gradient-SED R̄ peaks span 100–330× across ops and seeds; per seed only for mul. */
  gradientPeakRange: [100, 330] as [number, number],
  gradientPeakPerSeed: { mul: { 42: 327, 137: 101, 2024: 217 } } as Record<string, Record<number, number>>,
  /** W ablation (add, seed 42): peak R_1 by window size; 2, 5, 10 not published. */
  windowPeakR1: { 1: 648, 20: 212, 40: 140 } as Record<number, number>,
  /** ε ablation (add, seed 42): peak R_1 by ε_rel. */
  epsPeakR1: { 0.001: 221, 0.005: 212, 0.05: 74 } as Record<number, number>,
  /**
   * Interventions (mean grok step of seeds 42, 137, 2024 and speed-up over control). Gradient projection: add
   * only (the mul table was not published). Update projection: only remove-SED's 1.21× was published.
   */
  interventions: {
    gradient: {
      add: {
        control: { grok: 3358, speedup: 1.0 },
        "remove-sed": { grok: 3300, speedup: 1.02 },
        "keep-sed": { grok: 1525, speedup: 2.2 },
        "remove-random": { grok: 3358, speedup: 1.0 },
        "keep-random": { grok: 1425, speedup: 2.36 },
      },
    } as Record<string, Record<string, { grok: number; speedup: number }>>,
    update: { add: { "remove-sed": { speedup: 1.21 } } } as Record<
      string,
      Record<string, { speedup: number }>
    >,
  },
};

/**
 * Multitask (four heads on one shared trunk: add, sub, mul, sq_sum; claim C3). The paper reports update-SED
 * R̄ ≤ 1 for every task and the per-task gradient-SED R̄ peaks below (one run, seed not stated); it gives no
 * aggregate gradient-SED number (ours is new: the direct test of "aggregation is the obstruction").
 */
export const PAPER_MULTITASK = {
  tasks: ["add", "sub", "mul", "sq_sum"] as const,
  /** Update-SED R̄ stays at or below this for every task. */
  updateRbarMax: 1,
  /** Per-task gradient-SED R̄ peak. */
  perTaskPeakRbar: { add: 31.5, sub: 44.9, mul: 23.8, sq_sum: 21.8 } as Record<string, number>,
  /** The README's post-grok range of per-task R_k. */
  perTaskPostGrokRange: [12, 45] as [number, number],
};
