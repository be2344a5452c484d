/** OME-Zarr (NGFF 0.4, Zarr v2) plates: the public surface of io/zarr. */
export { writeImage, pyramidSizes, halveRows, PYRAMID_FIT, CHUNK, NGFF_VERSION, type ImageSpec, type ImageChannel } from './image.ts';
export { writePlateWell, writePlateMetadata, canonicalImage, canonicalImageFrom, planesImage, labelZ, FIELD } from './plate.ts';
export { wellPosition, plateGrid, FALLBACK_ROW, type PlatePosition } from './layout.ts';
export { isOmeZarr, listZarrWells, readZarrWell, zarrWellHeader, type ZarrWellEntry } from './read.ts';
export { GZIP_LEVEL } from './store.ts';
