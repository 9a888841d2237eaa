import { describe, expect, it } from 'vitest';

import {
  clickMode,
  clickSelection,
  selectedTiles,
  decodeTile,
  divergingColor,
  expectedByteLength,
  FALLBACK_COLUMNS,
  finiteRange,
  fitTile,
  gridLayout,
  hasNegative,
  parseShape,
  resolveScale,
  tilePosition,
  typedView
} from '../src/grid';

/** RGBA of pixel p as a plain array. */
function pixel(rgba: Uint8ClampedArray, p: number): number[] {
  return Array.from(rgba.subarray(p * 4, p * 4 + 4));
}

function float32Bytes(values: number[], offset = 0): Uint8Array {
  const buffer = new ArrayBuffer(offset + values.length * 4);
  new Float32Array(buffer, offset).set(values);
  return new Uint8Array(buffer, offset, values.length * 4);
}

describe('parseShape', () => {
  it('accepts [n, h, w, c] with c in {1, 3}', () => {
    expect(parseShape([512, 28, 28, 1])).toEqual({ count: 512, height: 28, width: 28, channels: 1 });
    expect(parseShape([0, 0, 0, 3]).channels).toBe(3);
  });

  it.each([[[2, 4, 4, 2]], [[2, 4, 4]], [[2, -1, 4, 1]], [[2, 4.5, 4, 1]], ['2,4,4,1'], [null]])(
    'rejects %j and says what it expects',
    shape => {
      expect(() => parseShape(shape)).toThrow(/\[n, height, width, channels\] with channels 1 or 3/);
    }
  );
});

describe('buffers', () => {
  it('computes the byte length from shape and dtype', () => {
    const shape = parseShape([3, 2, 5, 3]);
    expect(expectedByteLength(shape, 'uint8')).toBe(90);
    expect(expectedByteLength(shape, 'float32')).toBe(360);
  });

  it('views float32 bytes without copying when aligned', () => {
    const bytes = float32Bytes([1.5, -2, 0.25], 8);
    const view = typedView(bytes, 'float32');
    expect(Array.from(view)).toEqual([1.5, -2, 0.25]);
    expect(view.buffer).toBe(bytes.buffer);
  });

  it('copies float32 bytes at an unaligned offset', () => {
    const source = float32Bytes([3, -4]);
    const buffer = new ArrayBuffer(source.byteLength + 1);
    const unaligned = new Uint8Array(buffer, 1, source.byteLength);
    unaligned.set(source);
    const view = typedView(unaligned, 'float32');
    expect(Array.from(view)).toEqual([3, -4]);
    expect(view.buffer).not.toBe(buffer);
  });

  it('rejects float32 data whose length is not a multiple of 4', () => {
    expect(() => typedView(new Uint8Array(6), 'float32')).toThrow(/multiple of 4 bytes, got 6/);
  });

  it('keeps uint8 bytes as they are', () => {
    const bytes = new Uint8Array([0, 128, 255]);
    expect(typedView(bytes, 'uint8')).toBe(bytes);
  });
});

describe('colour scales', () => {
  it('resolves auto: diverging only for float data with negative values', () => {
    expect(resolveScale('auto', 'float32', new Float32Array([0, 1, -0.1]))).toBe('diverging');
    expect(resolveScale('auto', 'float32', new Float32Array([0, 1, 2]))).toBe('gray');
    expect(resolveScale('auto', 'uint8', new Uint8Array([0, 255]))).toBe('direct');
    expect(resolveScale('diverging', 'float32', new Float32Array([1]))).toBe('diverging');
    expect(resolveScale('gray', 'float32', new Float32Array([-1]))).toBe('gray');
    expect(resolveScale('diverging', 'uint8', new Uint8Array([1]))).toBe('direct');
  });

  it('finds negatives but ignores NaN', () => {
    expect(hasNegative([1, NaN, 2])).toBe(false);
    expect(hasNegative([1, -0.5])).toBe(true);
  });

  it('is white at 0, the end colours at -1 and +1, symmetric in between, clamped outside', () => {
    expect(divergingColor(0)).toEqual([247, 247, 247]);
    expect(divergingColor(-1)).toEqual([33, 102, 172]);
    expect(divergingColor(1)).toEqual([178, 24, 43]);
    expect(divergingColor(-5)).toEqual(divergingColor(-1));
    expect(divergingColor(7)).toEqual(divergingColor(1));
    // halfway: the mean of the centre and the end colour
    expect(divergingColor(0.5)).toEqual([213, 136, 145]);
    expect(divergingColor(-0.5)).toEqual([140, 175, 210]);
  });

  it('measures the finite range of a slice', () => {
    expect(finiteRange([9, -3, NaN, 2, Infinity, 99], 1, 5)).toEqual({ min: -3, max: 2, absMax: 3 });
    expect(finiteRange([NaN, NaN], 0, 2)).toEqual({ min: 0, max: 0, absMax: 0 });
  });
});

describe('decodeTile', () => {
  it('shows uint8 greyscale as stored, each tile from its own offset', () => {
    // two 1x2 tiles
    const values = new Uint8Array([0, 255, 10, 200]);
    const shape = parseShape([2, 1, 2, 1]);
    const second = decodeTile(values, shape, 1, 'direct');
    expect(pixel(second, 0)).toEqual([10, 10, 10, 255]);
    expect(pixel(second, 1)).toEqual([200, 200, 200, 255]);
  });

  it('shows uint8 RGB as stored (channels last)', () => {
    const values = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const rgba = decodeTile(values, parseShape([1, 1, 2, 3]), 0, 'direct');
    expect(Array.from(rgba)).toEqual([1, 2, 3, 255, 4, 5, 6, 255]);
  });

  it('stretches float greyscale per tile from min to max', () => {
    const values = new Float32Array([2, 4, 3, /* tile 1 */ 100, 100, 100]);
    const shape = parseShape([2, 1, 3, 1]);
    const first = decodeTile(values, shape, 0, 'gray');
    expect([pixel(first, 0)[0], pixel(first, 1)[0], pixel(first, 2)[0]]).toEqual([0, 255, 128]);
    // a constant tile is mid-grey, not black or a division by zero
    const second = decodeTile(values, shape, 1, 'gray');
    expect(pixel(second, 0)).toEqual([128, 128, 128, 255]);
  });

  it('maps signed single-channel data on a symmetric diverging scale per tile', () => {
    // max |x| is 4 (from -4), so +2 sits at s = 0.5 even though the max is only 2
    const values = new Float32Array([-4, 0, 2]);
    const rgba = decodeTile(values, parseShape([1, 1, 3, 1]), 0, 'diverging');
    expect(pixel(rgba, 0)).toEqual([...divergingColor(-1), 255]);
    expect(pixel(rgba, 1)).toEqual([247, 247, 247, 255]);
    expect(pixel(rgba, 2)).toEqual([...divergingColor(0.5), 255]);
  });

  it('centres signed RGB data on mid-grey with one symmetric scale for all channels', () => {
    const values = new Float32Array([-2, 0, 2, 1, -1, 0]);
    const rgba = decodeTile(values, parseShape([1, 1, 2, 3]), 0, 'diverging');
    expect(pixel(rgba, 0)).toEqual([0, 128, 255, 255]);
    expect(pixel(rgba, 1)).toEqual([191, 64, 128, 255]);
  });

  it('draws non-finite pixels transparent and leaves them out of the range', () => {
    const values = new Float32Array([NaN, 1, 3, Infinity]);
    const rgba = decodeTile(values, parseShape([1, 2, 2, 1]), 0, 'gray');
    expect(pixel(rgba, 0)).toEqual([0, 0, 0, 0]);
    expect(pixel(rgba, 1)).toEqual([0, 0, 0, 255]);
    expect(pixel(rgba, 2)).toEqual([255, 255, 255, 255]);
    expect(pixel(rgba, 3)[3]).toBe(0);
  });

  it('reuses an output buffer of the right size and ignores one of the wrong size', () => {
    const shape = parseShape([1, 2, 2, 1]);
    const values = new Uint8Array([1, 2, 3, 4]);
    const out = new Uint8ClampedArray(16);
    expect(decodeTile(values, shape, 0, 'direct', out)).toBe(out);
    expect(decodeTile(values, shape, 0, 'direct', new Uint8ClampedArray(4)).length).toBe(16);
  });

  it('decodes 512 tiles of 28x28 quickly', () => {
    const shape = parseShape([512, 28, 28, 1]);
    const values = new Float32Array(512 * 28 * 28).map((_, i) => Math.sin(i));
    const start = performance.now();
    let out;
    for (let i = 0; i < shape.count; i++) {
      out = decodeTile(values, shape, i, 'diverging', out);
    }
    // generous bound for a shared CI core; a regression to per-pixel allocation would be far slower
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('gridLayout', () => {
  const base = { count: 10, availableWidth: 0, tileSize: 64, columns: 0, gap: 4, labelHeight: 0 };

  it('fits as many columns as the width allows, counting gaps only between tiles', () => {
    // 4 tiles need 4*64 + 3*4 = 268 px
    expect(gridLayout({ ...base, availableWidth: 268 }).columns).toBe(4);
    expect(gridLayout({ ...base, availableWidth: 267 }).columns).toBe(3);
    expect(gridLayout({ ...base, availableWidth: 10 }).columns).toBe(1);
  });

  it('uses the requested number of columns, whatever the width', () => {
    const layout = gridLayout({ ...base, availableWidth: 10000, columns: 3 });
    expect(layout.columns).toBe(3);
    expect(layout.rows).toBe(4);
  });

  it('never uses more columns than tiles, and a fallback before the width is known', () => {
    expect(gridLayout({ ...base, count: 2, availableWidth: 10000 }).columns).toBe(2);
    expect(gridLayout({ ...base, count: 100 }).columns).toBe(FALLBACK_COLUMNS);
  });

  it('sizes the grid with label lines and gaps', () => {
    const layout = gridLayout({ ...base, count: 5, columns: 2, labelHeight: 18 });
    expect(layout).toMatchObject({ columns: 2, rows: 3, cellHeight: 82 });
    expect(layout.width).toBe(2 * 64 + 4);
    expect(layout.height).toBe(3 * 82 + 2 * 4);
  });

  it('lays out 512 tiles in rows of the fitted width', () => {
    const layout = gridLayout({ ...base, count: 512, availableWidth: 800, tileSize: 48 });
    expect(layout.columns).toBe(15); // 15*48 + 14*4 = 776 <= 800 < 16*48 + 15*4 = 828
    expect(layout.rows).toBe(35);
    expect(tilePosition(layout, 511)).toEqual({ x: (511 % 15) * 52, y: 34 * 52 });
  });

  it('shrinks the tiles of a short grid by up to a fifth to need one row fewer', () => {
    // 9 tiles of 56 px in 466 px: 8 + 1; at 50 px all 9 fit one row (9*50 + 8*4 = 482 > 466: 48 px)
    const nine = gridLayout({ ...base, count: 9, availableWidth: 466, tileSize: 56 });
    expect(nine).toMatchObject({ rows: 1, columns: 9 });
    expect(nine.tileSize).toBe(Math.floor(470 / 9 - 4));
    expect(nine.width).toBeLessThanOrEqual(466);
    // 16 tiles: three rows at 64 px (7 + 7 + 2) become two of 8 at 54 px
    const sixteen = gridLayout({ ...base, count: 16, availableWidth: 466 });
    expect(sixteen).toMatchObject({ rows: 2, columns: 8 });
    expect(sixteen.tileSize).toBeGreaterThanOrEqual(0.8 * 64);
    // more than a fifth smaller, or a long grid: the tiles keep their size
    expect(gridLayout({ ...base, count: 12, availableWidth: 466 }).tileSize).toBe(64);
    expect(gridLayout({ ...base, count: 40, availableWidth: 466 }).tileSize).toBe(64);
    // requested columns: as asked
    expect(gridLayout({ ...base, count: 9, availableWidth: 466, columns: 4 }).tileSize).toBe(64);
  });

  it('is empty for no tiles', () => {
    expect(gridLayout({ ...base, count: 0, availableWidth: 500 })).toMatchObject({ rows: 0, width: 0, height: 0 });
  });

  it('places tiles row by row, labels included in the row height', () => {
    const layout = gridLayout({ ...base, count: 7, columns: 3, labelHeight: 18 });
    expect(tilePosition(layout, 0)).toEqual({ x: 0, y: 0 });
    expect(tilePosition(layout, 2)).toEqual({ x: 136, y: 0 });
    expect(tilePosition(layout, 4)).toEqual({ x: 68, y: 86 });
    expect(tilePosition(layout, 6)).toEqual({ x: 0, y: 172 });
  });
});

describe('fitTile', () => {
  it('keeps the aspect ratio inside the square tile', () => {
    expect(fitTile(28, 28, 64)).toEqual({ width: 64, height: 64 });
    expect(fitTile(10, 20, 64)).toEqual({ width: 64, height: 32 });
    expect(fitTile(30, 10, 60)).toEqual({ width: 20, height: 60 });
    expect(fitTile(0, 10, 60)).toEqual({ width: 60, height: 60 });
  });
});

describe('click selection', () => {
  const none = { index: null, indices: [] };

  it('reads the mode from the modifier keys: shift wins over ctrl/cmd', () => {
    const keys = (ctrlKey: boolean, metaKey: boolean, shiftKey: boolean) => clickMode({ ctrlKey, metaKey, shiftKey });
    expect([keys(false, false, false), keys(true, false, false), keys(false, true, false)]).toEqual([
      'single',
      'toggle',
      'toggle'
    ]);
    expect(keys(true, false, true)).toBe('range');
  });

  it('a plain click selects one tile, whatever was selected', () => {
    expect(clickSelection({ index: 2, indices: [1, 2, 5] }, 4, 'single')).toEqual({ index: 4, indices: [] });
  });

  it('ctrl-click adds the tile and focuses it, or removes it and focuses a neighbour', () => {
    let sel = clickSelection(none, 3, 'toggle');
    expect(sel).toEqual({ index: 3, indices: [] });
    sel = clickSelection(sel, 7, 'toggle');
    expect(sel).toEqual({ index: 7, indices: [3, 7] });
    sel = clickSelection(sel, 1, 'toggle');
    expect(sel).toEqual({ index: 1, indices: [1, 3, 7] });
    expect(clickSelection(sel, 3, 'toggle')).toEqual({ index: 1, indices: [1, 7] });
    expect(clickSelection(sel, 1, 'toggle')).toEqual({ index: 3, indices: [3, 7] }); // none before: the first
    expect(clickSelection({ index: 3, indices: [] }, 3, 'toggle')).toEqual(none);
  });

  it('shift-click selects the range from the focused tile, either way, and focuses the clicked one', () => {
    expect(clickSelection({ index: 2, indices: [] }, 5, 'range')).toEqual({ index: 5, indices: [2, 3, 4, 5] });
    expect(clickSelection({ index: 5, indices: [0, 5] }, 3, 'range')).toEqual({ index: 3, indices: [3, 4, 5] });
    expect(clickSelection(none, 4, 'range')).toEqual({ index: 4, indices: [] }); // no focus: that tile
  });

  it('lists every selected tile once, sorted', () => {
    expect(selectedTiles({ index: 6, indices: [4, 1] })).toEqual([1, 4, 6]);
    expect(selectedTiles({ index: 4, indices: [1, 4] })).toEqual([1, 4]);
    expect(selectedTiles(none)).toEqual([]);
  });
});
