// Run ids: pure, so the browser explorer names a run exactly as the CLI does (a downloaded record drops into
// data/runs under the name lookups expect). SHA-256 from @noble/hashes: node:crypto is not in a browser.
import { sha256 } from "@noble/hashes/sha2";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils";
import {
  canonicalJson,
  GROKFAST_DEFAULTS,
  INTERVENTION_DEFAULTS,
  makeConfig,
  overridesOf,
  READOUT_DEFAULTS,
  type TrainConfig,
} from "../config/config";

function slug(s: string): string {
  return s
    .replace(/\s+/g, "")
    .replace(/[^A-Za-z0-9_+-]+/g, "_")
    .slice(0, 40);
}

/**
 * Stable id: task, p, preset, seed, plus a short hash of any field changed from the preset's defaults.
 * Multitask runs are named `mt-<task>+<task>…`, with `_c<spacing>` when checkpointEvery is not the default.
 */
export function runId(c: TrainConfig): string {
  const task = c.tasks ? `mt-${c.tasks.join("+")}` : (c.op ?? `expr-${slug(c.expr ?? "")}`);
  const extra = overridesOf(c);
  delete extra.p;
  let id = `${task}_p${c.p}_${c.preset}_seed${c.seed}`;
  // Runs with the preset's default diagnostics are named "_sed"; other diagnostics settings go into the hash.
  // (A multitask run's default measurement spacing follows its checkpoint spacing.)
  const defaultSed = makeConfig({
    preset: c.preset,
    sed: true,
    tasks: c.tasks,
    checkpointEvery: c.tasks ? c.checkpointEvery : undefined,
  }).sed;
  if (c.sed && canonicalJson(c.sed) === canonicalJson(defaultSed)) {
    delete extra.sed;
    id += "_sed";
  }
  if (c.readouts && canonicalJson(c.readouts) === canonicalJson(READOUT_DEFAULTS)) {
    delete extra.readouts;
    id += "_readouts";
  }
  if (c.tasks && extra.checkpointEvery !== undefined) {
    id += `_c${c.checkpointEvery}`;
    delete extra.checkpointEvery;
  }
  // Interventions are named by mode (plus projection and rank when not the defaults), e.g. "_keep-sed".
  if (c.intervention) {
    const { mode, projection, rank, lrScale, ...other } = c.intervention;
    const { mode: _m, projection: _p, rank: _r, ...otherDefault } = INTERVENTION_DEFAULTS;
    id += `_${mode}${projection === "update" ? "-update" : ""}${rank === INTERVENTION_DEFAULTS.rank ? "" : `-r${rank}`}`;
    if (lrScale !== undefined) id += `-x${lrScale}`;
    // Grokfast's published α and λ are its defaults: not named.
    for (const k of Object.keys(GROKFAST_DEFAULTS) as (keyof typeof GROKFAST_DEFAULTS)[])
      if (other[k] === GROKFAST_DEFAULTS[k]) delete other[k];
    if (canonicalJson(other) === canonicalJson(otherDefault)) delete extra.intervention;
  }
  if (c.expr !== undefined) id += `_${hash(c.expr)}`;
  if (Object.keys(extra).length > 0) id += `_${hash(canonicalJson(extra))}`;
  return id;
}

function hash(s: string): string {
  return bytesToHex(sha256(utf8ToBytes(s))).slice(0, 8);
}
