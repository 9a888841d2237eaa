/**
 * Pure logic of the image grid: no DOM, no widget code, unit-tested in tests/grid.test.ts.
 *
 * - decoding: the model's binary buffer (n, h, w, c) in uint8 or float32 -> one RGBA tile at a time
 * - colour scales: grey and a symmetric diverging scale around 0 for signed data
 * - layout: columns, rows and tile positions from the available width and the tile size
 * - selection: what a plain, ctrl/cmd- or shift-click makes of the selected tiles
 *
 * Scaling of float32 data is per tile: grey maps the tile's [min, max] to black..white; diverging maps
 * [-m, m], m = max |x| over the tile, to blue..white..red (so 0 is always white). uint8 data is shown as
 * stored (0..255); the colour map does not apply to it. Non-finite values are drawn transparent.
 */

export type Dtype = 'uint8' | 'float32';
export type Colormap = 'auto' | 'gray' | 'diverging';
export type ColorScale = 'gray' | 'diverging' | 'direct';

export interface IGridShape {
  count: number;
  height: number;
  width: number;
  channels: 1 | 3;
}

/** RGBA bytes of one tile, backed by a plain ArrayBuffer (what ImageData accepts). */
export type RGBA = Uint8ClampedArray<ArrayBuffer>;

const DTYPE_BYTES: Record<Dtype, number> = { uint8: 1, float32: 4 };

/**
 * Validate the `shape` trait ([n, h, w, c] with c in {1, 3}); throws an Error that says what is expected.
 */
export function parseShape(shape: unknown): IGridShape {
  const ok =
    Array.isArray(shape) &&
    shape.length === 4 &&
    shape.every(v => Number.isInteger(v) && v >= 0) &&
    (shape[3] === 1 || shape[3] === 3);
  if (!ok) {
    throw new Error(
      `shape must be [n, height, width, channels] with channels 1 or 3, got ${JSON.stringify(shape)}`
    );
  }
  const [count, height, width, channels] = shape as number[];
  return { count, height, width, channels: channels as 1 | 3 };
}

export function isDtype(value: unknown): value is Dtype {
  return value === 'uint8' || value === 'float32';
}

/** Number of bytes a buffer of this shape and dtype must have. */
export function expectedByteLength(shape: IGridShape, dtype: Dtype): number {
  return shape.count * shape.height * shape.width * shape.channels * DTYPE_BYTES[dtype];
}

/**
 * View the raw bytes as the typed array of `dtype` (little-endian, as numpy writes on every platform we
 * support). A float32 view needs a 4-byte aligned offset; an unaligned buffer is copied once.
 */
export function typedView(bytes: Uint8Array, dtype: Dtype): Uint8Array | Float32Array {
  if (dtype === 'uint8') {
    return bytes;
  }
  if (bytes.byteLength % 4 !== 0) {
    throw new Error(`float32 data needs a multiple of 4 bytes, got ${bytes.byteLength}`);
  }
  if (bytes.byteOffset % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  }
  return new Float32Array(bytes.slice().buffer);
}

/** True when any value is below zero (NaN is not). */
export function hasNegative(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) {
    if (values[i] < 0) {
      return true;
    }
  }
  return false;
}

/**
 * The colour scale actually used: uint8 is shown as stored; for float32, "auto" picks the diverging
 * scale when the data has negative values and grey otherwise.
 */
export function resolveScale(
  colormap: Colormap,
  dtype: Dtype,
  values: ArrayLike<number>
): ColorScale {
  if (dtype === 'uint8') {
    return 'direct';
  }
  if (colormap === 'auto') {
    return hasNegative(values) ? 'diverging' : 'gray';
  }
  return colormap;
}

// End points and centre of the diverging scale (a blue-white-red ramp, readable for red-green colour blindness).
const NEGATIVE: readonly number[] = [33, 102, 172];
const CENTRE: readonly number[] = [247, 247, 247];
const POSITIVE: readonly number[] = [178, 24, 43];

/** Colour of s in [-1, 1] on the diverging scale (clamped): blue below 0, white at 0, red above. */
export function divergingColor(s: number): [number, number, number] {
  const t = Math.max(-1, Math.min(1, s));
  const end = t < 0 ? NEGATIVE : POSITIVE;
  const a = Math.abs(t);
  return [
    Math.round(CENTRE[0] + (end[0] - CENTRE[0]) * a),
    Math.round(CENTRE[1] + (end[1] - CENTRE[1]) * a),
    Math.round(CENTRE[2] + (end[2] - CENTRE[2]) * a)
  ];
}

/** [min, max, max |x|] over the finite values of values[start, end). */
export function finiteRange(
  values: ArrayLike<number>,
  start: number,
  end: number
): { min: number; max: number; absMax: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = start; i < end; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      if (v < min) {
        min = v;
      }
      if (v > max) {
        max = v;
      }
    }
  }
  if (min > max) {
    return { min: 0, max: 0, absMax: 0 };
  }
  return { min, max, absMax: Math.max(Math.abs(min), Math.abs(max)) };
}

/**
 * Decode tile `index` into RGBA bytes (height * width * 4), row-major, ready for ImageData.
 * `out` is reused when it has the right length.
 */
export function decodeTile(
  values: Uint8Array | Float32Array,
  shape: IGridShape,
  index: number,
  scale: ColorScale,
  out?: RGBA
): RGBA {
  const { height, width, channels } = shape;
  const pixels = height * width;
  const start = index * pixels * channels;
  const rgba = out && out.length === pixels * 4 ? out : new Uint8ClampedArray(pixels * 4);
  const { min, max, absMax } =
    scale === 'direct' ? { min: 0, max: 255, absMax: 255 } : finiteRange(values, start, start + pixels * channels);
  const span = max - min;
  for (let p = 0; p < pixels; p++) {
    const src = start + p * channels;
    const dst = p * 4;
    let finite = true;
    for (let k = 0; k < channels; k++) {
      if (!Number.isFinite(values[src + k])) {
        finite = false;
      }
    }
    if (!finite) {
      rgba[dst] = rgba[dst + 1] = rgba[dst + 2] = rgba[dst + 3] = 0;
      continue;
    }
    if (scale === 'direct') {
      const r = values[src];
      rgba[dst] = r;
      rgba[dst + 1] = channels === 3 ? values[src + 1] : r;
      rgba[dst + 2] = channels === 3 ? values[src + 2] : r;
    } else if (scale === 'gray') {
      for (let k = 0; k < 3; k++) {
        const v = values[src + (channels === 3 ? k : 0)];
        rgba[dst + k] = span > 0 ? Math.round(((v - min) / span) * 255) : 128;
      }
    } else if (channels === 1) {
      const c = divergingColor(absMax > 0 ? values[src] / absMax : 0);
      rgba[dst] = c[0];
      rgba[dst + 1] = c[1];
      rgba[dst + 2] = c[2];
    } else {
      // Signed RGB (e.g. first-layer filters): each channel centred on mid-grey, same symmetric scale.
      for (let k = 0; k < 3; k++) {
        const s = absMax > 0 ? values[src + k] / absMax : 0;
        rgba[dst + k] = Math.round((0.5 + s / 2) * 255);
      }
    }
    rgba[dst + 3] = 255;
  }
  return rgba;
}

export interface IGridLayoutOptions {
  /** number of tiles */
  count: number;
  /** width available to the grid in px; 0 or less when not measured yet */
  availableWidth: number;
  /** edge of a (square) tile in px */
  tileSize: number;
  /** requested number of columns; 0 fits as many as the width allows */
  columns: number;
  /** space between tiles in px */
  gap: number;
  /** height of the label line under each tile in px (0 without labels) */
  labelHeight: number;
}

export interface IGridLayout {
  count: number;
  columns: number;
  rows: number;
  tileSize: number;
  gap: number;
  cellHeight: number;
  /** total size of the grid in px */
  width: number;
  height: number;
}

/** Columns used when the width is not known yet (the view is not attached). */
export const FALLBACK_COLUMNS = 8;
/** A grid of a few rows may shrink its tiles to this share of their size to need one row fewer. */
export const MIN_SHRINK = 0.8;
/** ...when it has at most this many rows (in a long grid a short last row is no loss). */
export const SHRINK_ROWS = 3;

/**
 * The tile size that lays `count` tiles in one row fewer than `tileSize` does, if one at least
 * MIN_SHRINK of it does (9 filters in 466 px: one row at 50 px rather than 8 + 1 at 56 px); else
 * `tileSize`.
 */
export function shrinkToSaveARow(count: number, width: number, tileSize: number, gap: number): number {
  const fit = (t: number): number => Math.max(1, Math.floor((width + gap) / (t + gap)));
  const rows = Math.ceil(count / fit(tileSize));
  if (rows < 2 || rows > SHRINK_ROWS) {
    return tileSize;
  }
  const columns = Math.ceil(count / (rows - 1));
  const smaller = Math.floor((width + gap) / columns - gap);
  return smaller >= Math.ceil(MIN_SHRINK * tileSize) && smaller < tileSize ? smaller : tileSize;
}

export function gridLayout(options: IGridLayoutOptions): IGridLayout {
  const { count, availableWidth, columns: requested } = options;
  const gap = Math.max(0, options.gap);
  let tileSize = Math.max(1, Math.floor(options.tileSize));
  if (requested <= 0 && availableWidth > 0) {
    tileSize = shrinkToSaveARow(count, availableWidth, tileSize, gap);
  }
  let columns: number;
  if (requested > 0) {
    columns = Math.floor(requested);
  } else if (availableWidth > 0) {
    columns = Math.max(1, Math.floor((availableWidth + gap) / (tileSize + gap)));
  } else {
    columns = FALLBACK_COLUMNS;
  }
  columns = Math.max(1, Math.min(columns, Math.max(count, 1)));
  const rows = Math.ceil(count / columns);
  const cellHeight = tileSize + Math.max(0, options.labelHeight);
  return {
    count,
    columns,
    rows,
    tileSize,
    gap,
    cellHeight,
    width: count > 0 ? columns * tileSize + (columns - 1) * gap : 0,
    height: rows > 0 ? rows * cellHeight + (rows - 1) * gap : 0
  };
}

/** Top-left corner of tile `index` inside the grid. */
export function tilePosition(layout: IGridLayout, index: number): { x: number; y: number } {
  const column = index % layout.columns;
  const row = Math.floor(index / layout.columns);
  return { x: column * (layout.tileSize + layout.gap), y: row * (layout.cellHeight + layout.gap) };
}

/** CSS size of an h x w image fitted into a square tile, aspect ratio kept. */
export function fitTile(height: number, width: number, tileSize: number): { width: number; height: number } {
  if (height <= 0 || width <= 0) {
    return { width: tileSize, height: tileSize };
  }
  const scale = tileSize / Math.max(height, width);
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

/** The selected tiles as the traits hold them: the focus and, when several are selected, all of them. */
export interface IGridSelection {
  index: number | null;
  indices: number[];
}

/** `single`: a plain click; `toggle`: ctrl/cmd-click; `range`: shift-click (from the focused tile). */
export type ClickMode = 'single' | 'toggle' | 'range';

export function clickMode(event: { ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }): ClickMode {
  if (event.shiftKey) {
    return 'range';
  }
  return event.ctrlKey || event.metaKey ? 'toggle' : 'single';
}

/** Every selected tile, sorted: the several and the focus. */
export function selectedTiles(selection: IGridSelection): number[] {
  const all = new Set(selection.indices);
  if (selection.index !== null) {
    all.add(selection.index);
  }
  return [...all].sort((a, b) => a - b);
}

/**
 * The selection after a click on tile `clicked`. The clicked tile becomes the focus, except when a
 * ctrl-click removes it: then the focus goes to the nearest selected tile before it (or after it), or
 * to none. `indices` is empty unless several tiles are selected.
 */
export function clickSelection(current: IGridSelection, clicked: number, mode: ClickMode): IGridSelection {
  let chosen: number[];
  let focus: number | null = clicked;
  if (mode === 'single') {
    chosen = [clicked];
  } else if (mode === 'range') {
    const anchor = current.index ?? clicked;
    const [low, high] = anchor <= clicked ? [anchor, clicked] : [clicked, anchor];
    chosen = Array.from({ length: high - low + 1 }, (_, k) => low + k);
  } else {
    const before = selectedTiles(current);
    chosen = before.includes(clicked) ? before.filter(i => i !== clicked) : [...before, clicked].sort((a, b) => a - b);
    if (!chosen.includes(clicked)) {
      const earlier = chosen.filter(i => i < clicked);
      focus = earlier.length > 0 ? earlier[earlier.length - 1] : (chosen[0] ?? null);
    }
  }
  return { index: focus, indices: chosen.length > 1 ? chosen : [] };
}
