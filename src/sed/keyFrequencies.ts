// Key frequencies of the token embedding (Nanda et al. 2023, "Progress measures for grokking via mechanistic
// interpretability"): the DFT over Z_p along the token axis of each column of embed.tok [p, d], its power per
// frequency summed over the d columns, and the few frequencies that carry most of it. Pure JS.
import { type Layout, paramView } from "../model/params";
import { powerSpectrum } from "../util/fourier";

/**
 * Share of the token embedding's non-DC power per ω = 1..⌊p/2⌋ (index ω − 1): for each column j of embed.tok
 * (tokens t = 0..p−1), powerSpectrum of t ↦ E[t, j] (cos and sin at ±ω together, the column's mean removed),
 * summed over j, divided by the sum over ω. Normalised: the entries sum to 1 (all 0 when every column is
 * constant, i.e. there is no non-DC energy).
 */
export function embeddingPower(layout: Layout, theta: Float32Array): Float64Array {
  const { p, d } = layout.sizes;
  const E = paramView(layout, theta, "embed.tok"); // [p, d] row-major: E[t·d + j]
  const total = new Float64Array(Math.floor(p / 2));
  const col = new Float64Array(p);
  for (let j = 0; j < d; j++) {
    for (let t = 0; t < p; t++) col[t] = E[t * d + j];
    const pw = powerSpectrum(col);
    for (let w = 0; w < total.length; w++) total[w] += pw[w];
  }
  let sum = 0;
  for (const x of total) sum += x;
  if (sum > 0) for (let w = 0; w < total.length; w++) total[w] /= sum;
  return total;
}

/**
 * The smallest set of frequencies carrying ≥ `share` of the power (a spectrum indexed by ω − 1, normalised or
 * not), largest first (ties: lower ω first). [] for a spectrum with no power.
 */
export function keyFrequencies(power: ArrayLike<number>, share = 0.9): number[] {
  if (!(share > 0 && share <= 1))
    throw new RangeError(`keyFrequencies: share must be in (0, 1], got ${share}`);
  let total = 0;
  for (let i = 0; i < power.length; i++) total += power[i];
  if (!(total > 0)) return [];
  const order = Array.from({ length: power.length }, (_, i) => i).sort(
    (i, j) => power[j] - power[i] || i - j,
  );
  const out: number[] = [];
  let acc = 0;
  // A relative slack of 1e-12 so that exactly `share` (e.g. two equal halves at share 0.5) is not missed by rounding.
  for (const i of order) {
    if (acc >= share * total * (1 - 1e-12)) break;
    out.push(i + 1);
    acc += power[i];
  }
  return out;
}
