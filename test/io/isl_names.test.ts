import test from 'ava';
import { formatIslName, parseIslName } from '../../io/isl_names.ts';

const Z = 'lab-FINKBEINER,condition-KEVAN_0_8,acquisition_date,year-2015,month-10,day-5,minute-0,well-A4,tile_computation-STITCHED,z_depth-3,channel-PHASE_CONTRAST,is_mask-false.png';
const L = 'lab-FINKBEINER,condition-KEVAN_0_8,acquisition_date,year-2015,month-10,day-5,minute-0,well-A4,tile_computation-STITCHED,depth_computation-MAXPROJECT,channel-DAPI_CONFOCAL,is_mask-false.png';

test('parses a transmitted z-plane name', (t) => {
  t.deepEqual(parseIslName(`/some/dir/${Z}`), {
    lab: 'FINKBEINER', condition: 'KEVAN_0_8', year: 2015, month: 10, day: 5, minute: 0, well: 'A4',
    tileComputation: 'STITCHED', z: 3, channel: 'PHASE_CONTRAST', isMask: false, extension: 'png',
  });
});

test('parses a projected label and a prediction', (t) => {
  const l = parseIslName(L)!;
  t.is(l.depthComputation, 'MAXPROJECT');
  t.is(l.channel, 'DAPI_CONFOCAL');
  t.is(l.z, undefined);
  const p = parseIslName(L.replace(',is_mask', ',statistic-MEDIAN,is_mask'))!;
  t.is(p.statistic, 'MEDIAN');
  t.is(formatIslName(p), L.replace(',is_mask', ',statistic-MEDIAN,is_mask'));
});

test('format(parse(name)) is the name for the published names; tiles and extras round-trip', (t) => {
  t.is(formatIslName(parseIslName(Z)!), Z);
  t.is(formatIslName(parseIslName(L)!), L);
  const tile = 'lab-X,well-B2,tile_row-1,tile_col-2,z_depth-0,channel-DIC,is_mask-true.tif';
  const n = parseIslName(tile)!;
  t.is(n.tileRow, 1);
  t.is(n.tileCol, 2);
  t.true(n.isMask);
  t.is(formatIslName(n), tile);
  t.is(formatIslName(parseIslName('well-C1,objective-20X,channel-DAPI,is_mask-false.png')!), 'well-C1,channel-DAPI,objective-20X,is_mask-false.png');
});

test('names outside the convention give undefined', (t) => {
  t.is(parseIslName('img_001.tif'), undefined);
  t.is(parseIslName('well-A4,z_depth-x,channel-DAPI,is_mask-false.png'), undefined, 'non-numeric z');
  t.is(parseIslName('well-A4,z_depth-1.png'), undefined, 'no channel');
  t.is(parseIslName('channel-DAPI,is_mask-false.png'), undefined, 'no well');
  t.is(parseIslName('well-A4,channel-DAPI,is_mask-maybe.png'), undefined, 'bad is_mask');
});
