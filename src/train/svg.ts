/** The loss curve of a run: log.json (the rows, so it can be redrawn) and loss.svg, written next to checkpoints. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lineChartSVG } from '../report/chart.js';
import type { TrainConfig } from './presets.js';

export interface CurvePoint { step: number; loss: number; valLoss?: number }

/** log.json: the run's shape (for the title) and its per-step losses; `note` says where rows came from if not the trainer. */
export interface LossLog {
  config: Pick<TrainConfig, 'precision' | 'dim' | 'nLayers'> & Partial<TrainConfig>;
  log: CurvePoint[];
  note?: string;
}

export const LOSS_LOG_FILE = 'log.json';
export const LOSS_SVG_FILE = 'loss.svg';

export function lossCurveSVG(rows: CurvePoint[], title: string): string {
  const maxStep = rows.length ? rows[rows.length - 1].step : 0;
  return lineChartSVG([
    { name: 'train', color: '#1f77b4', noMarkers: true, points: rows.map((r) => [r.step, r.loss]) },
    { name: 'validation', color: '#d62728', points: rows.filter((r) => r.valLoss !== undefined).map((r) => [r.step, r.valLoss!]) },
  ], { title, xLabel: `step (of ${maxStep})`, yLabel: 'loss (nats/token)' });
}

export const lossLogSVG = (l: LossLog): string => lossCurveSVG(l.log, `${l.config.precision} ${l.config.dim}d×${l.config.nLayers}L`);

/** `bitnet train --out DIR --replot`: DIR/log.json, checked enough to draw (the SVG is the caller's to write). */
export function readLossLog(dir: string): LossLog {
  const path = join(dir, LOSS_LOG_FILE);
  let raw: unknown;
  try { raw = JSON.parse(readFileSync(path, 'utf8')); } catch (e) { throw new Error(`--replot: cannot read ${path} (${(e as Error).message})`); }
  const l = raw as LossLog;
  const okRow = (r: CurvePoint) => Number.isFinite(r?.step) && Number.isFinite(r?.loss) && (r.valLoss === undefined || Number.isFinite(r.valLoss));
  if (typeof l?.config?.precision !== 'string' || !Number.isInteger(l.config.dim) || !Number.isInteger(l.config.nLayers)) {
    throw new Error(`${path}: config needs precision, dim and nLayers`);
  }
  if (!Array.isArray(l.log) || !l.log.every(okRow)) throw new Error(`${path}: log must be an array of {step, loss, valLoss?} with finite numbers`);
  return l;
}
