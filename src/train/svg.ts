/** The loss-curve SVG written next to checkpoints (train loss and validation loss against step). */
import { lineChartSVG } from '../report/chart.js';

export interface CurvePoint { step: number; loss: number; valLoss?: number }

export function lossCurveSVG(rows: CurvePoint[], title: string): string {
  const maxStep = rows.length ? rows[rows.length - 1].step : 0;
  return lineChartSVG([
    { name: 'train', color: '#1f77b4', noMarkers: true, points: rows.map((r) => [r.step, r.loss]) },
    { name: 'validation', color: '#d62728', points: rows.filter((r) => r.valLoss !== undefined).map((r) => [r.step, r.valLoss!]) },
  ], { title, xLabel: `step (of ${maxStep})`, yLabel: 'loss (nats/token)' });
}
