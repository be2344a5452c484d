import test from 'ava';
import { parseTrainLog, trainCurveSvg } from '../../../pipelines/report/train_curve.ts';

test('parseTrainLog: loss-like numeric fields against step; blank lines skipped', (t) => {
  const s = parseTrainLog('{"step":0,"loss":2,"val_loss":3,"lr":0.1}\n\n{"step":10,"loss":1}\n', 'train.jsonl');
  t.deepEqual(s, [{ name: 'loss', points: [[0, 2], [10, 1]] }, { name: 'val_loss', points: [[0, 3]] }]);
});

test('parseTrainLog: clear errors naming the line', (t) => {
  t.throws(() => parseTrainLog('{"step":0,"loss":1}\nnot json', 'train.jsonl'), { message: 'train.jsonl:2: expected one JSON object per line ({"step": ..., "loss": ...})' });
  t.throws(() => parseTrainLog('{"loss":1}', 'train.jsonl'), { message: 'train.jsonl:1: expected a numeric "step" field in every line' });
});

test('trainCurveSvg: log scale for losses spanning decades, one path per series, escaped names', (t) => {
  const svg = trainCurveSvg([{ name: 'loss<a>', points: [[0, 10], [50, 1], [100, 0.1]] }]);
  t.true(svg.includes('loss (log scale)'));
  t.is((svg.match(/<path /g) ?? []).length, 1);
  t.true(svg.includes('loss&lt;a&gt;'));
  // Endpoints: first point at the left-top corner of the plot, last at right-bottom.
  t.regex(svg, /d="M64\.0 16\.0L.*L624\.0 276\.0"/);
  t.true(trainCurveSvg([{ name: 'loss', points: [[0, 1], [1, 2]] }]).includes('>loss</text>'));
  t.true(trainCurveSvg([]).includes('no loss values'));
});
