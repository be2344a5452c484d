import test from 'ava';
import { join } from 'node:path';
import { IslError } from '../../core/errors.ts';
import { inside, predictOut, preprocessOut, reportOut, unsafeName } from '../../io/out_layout.ts';

const OUT = '/data/run/out';

test('the layout names every output path under OUT', (t) => {
  t.is(preprocessOut.records(OUT), join(OUT, 'records'));
  t.is(preprocessOut.stitchReport(OUT, 'A01'), join(OUT, 'stitch', 'A01.json'));
  t.is(preprocessOut.well(OUT, 'B 2'), join(OUT, 'wells', 'B 2'));
  t.is(preprocessOut.fieldImage(OUT, 'flat/field', 'DAPI', 'field'), join(OUT, 'fields', 'flat_field_DAPI_field.tif'));
  t.is(predictOut.block(OUT, 'A01', 'x0y0w8h8'), join(OUT, '.blocks', 'A01', 'x0y0w8h8.f32'));
  t.deepEqual(reportOut.image(OUT, 'A01', 'DAPI_true.png'), { href: 'A01/DAPI_true.png', path: join(OUT, 'A01', 'DAPI_true.png') });
});

test('names that would leave OUT are refused with BAD_INPUT naming the value', (t) => {
  for (const bad of ['..', '../../evil', '/etc', 'a/b', 'a\\b', 'x\0y', '', '.']) {
    t.truthy(unsafeName(bad), JSON.stringify(bad));
    const e = t.throws(() => preprocessOut.well(OUT, bad), { instanceOf: IslError }, JSON.stringify(bad));
    t.true(IslError.is(e, 'BAD_INPUT'));
    t.true(e!.message.includes(`output name ${JSON.stringify(bad)} `), e!.message);
  }
  t.throws(() => preprocessOut.stitchReport(OUT, '../../evil'), { message: /output name "\.\.\/\.\.\/evil\.json" contains a path separator/ });
  t.throws(() => predictOut.well(OUT, '..'), { message: /output name "\.\." is a relative folder reference/ });
  t.throws(() => inside(OUT, 'ok', '../x'), { message: /output name "\.\.\/x" contains a path separator/ });
  t.is(unsafeName('A01'), undefined);
  t.is(unsafeName('weird well é'), undefined);
});
