// Which observers a run gets: the config decides the diagnostics, so a record always says what was measured.
// The one place that knows the built-in observers by name; the training loop only knows their contract.
import type { TrainConfig } from "../config/config";
import { attentionObserver } from "../intervention/attentionObserver";
import { interventionObserver } from "../intervention/observer";
import { multitaskSedObserver } from "../sed/multitaskObserver";
import { sedObserver } from "../sed/observer";
import { readoutObserver } from "../sed/readoutObserver";
import type { TrainObserver } from "../train/observer";

/** The observers `config` asks for (`sed`, `readouts`; `intervention`, with `attention` beside it), then `extra` (a caller's own, e.g. a test's). */
export function observersFor(config: TrainConfig, extra: readonly TrainObserver[] = []): TrainObserver[] {
  // The readouts read the SED observer's bases, so the SED observer shows them each measurement (and runs first).
  const readouts = config.readouts ? readoutObserver() : undefined;
  const sed = !config.sed
    ? []
    : config.tasks
      ? [multitaskSedObserver()]
      : [sedObserver({ onMeasure: readouts ? (m) => readouts.onSedMeasure(m) : undefined })];
  return [
    ...sed,
    ...(readouts ? [readouts] : []),
    ...(config.intervention ? [interventionObserver(), attentionObserver()] : []),
    ...extra,
  ];
}
