// @vitest-environment happy-dom
/**
 * The ImageGrid view against a stand-in for anywidget's model (get/set/on/off/save_changes, events fired
 * synchronously per trait as Backbone does): tiles, labels, clicks and arrow keys that set `selected_index`,
 * one redraw per update message, errors shown in the view, listeners removed on dispose.
 * (happy-dom has no 2D canvas: pixels are checked in grid.test.ts and the browser tests.)
 */

import { afterEach, describe, expect, it } from 'vitest';

import imageGridModule from '../src/image_grid';
import { IImageGridTraits, TRAIT_NAMES } from '../src/traits';
import { bytesOf, ImageGridView } from '../src/view';

type Listener = () => void;

class FakeModel {
  state: IImageGridTraits;
  saved = 0;
  listeners = new Map<string, Set<Listener>>();

  constructor(state: Partial<IImageGridTraits>) {
    this.state = {
      data: new DataView(new ArrayBuffer(0)),
      shape: [0, 0, 0, 1],
      dtype: 'uint8',
      labels: [],
      tooltips: [],
      selected_index: null,
      selected_indices: [],
      colormap: 'auto',
      tile_size: 64,
      columns: 0,
      title: '',
      ...state
    };
  }

  get<K extends keyof IImageGridTraits>(key: K): IImageGridTraits[K] {
    return this.state[key];
  }

  set<K extends keyof IImageGridTraits>(key: K, value: IImageGridTraits[K]): void {
    this.update({ [key]: value } as Partial<IImageGridTraits>);
  }

  /** Like an update message: every trait set first, then one change event per trait. */
  update(changes: Partial<IImageGridTraits>): void {
    Object.assign(this.state, changes);
    for (const key of Object.keys(changes)) {
      this.listeners.get(`change:${key}`)?.forEach(listener => listener());
    }
  }

  on(event: string, listener: Listener): void {
    if (!this.listeners.has(event)) {
      this.listeners.set(event, new Set());
    }
    this.listeners.get(event)!.add(listener);
  }

  off(event: string, listener: Listener): void {
    this.listeners.get(event)?.delete(listener);
  }

  save_changes(): void {
    this.saved += 1;
  }

  listenerCount(): number {
    return [...this.listeners.values()].reduce((sum, set) => sum + set.size, 0);
  }
}

function uint8Images(count: number, height = 2, width = 2): Pick<IImageGridTraits, 'data' | 'shape' | 'dtype'> {
  const bytes = new Uint8Array(count * height * width).map((_, i) => i % 256);
  return { data: new DataView(bytes.buffer), shape: [count, height, width, 1], dtype: 'uint8' };
}

const views: ImageGridView[] = [];

function show(model: FakeModel): { view: ImageGridView; el: HTMLElement } {
  const el = document.createElement('div');
  document.body.appendChild(el);
  // the stand-in is structurally what anywidget passes
  const view = new ImageGridView(model as unknown as ConstructorParameters<typeof ImageGridView>[0], el);
  view.render();
  views.push(view);
  return { view, el };
}

const tiles = (el: HTMLElement): HTMLElement[] => Array.from(el.querySelectorAll('.ddp-ImageGrid-tile'));
const selected = (el: HTMLElement): string[] =>
  Array.from(el.querySelectorAll('.ddp-mod-selected')).map(tile => (tile as HTMLElement).dataset.index ?? '');
const settle = (): Promise<void> => new Promise(resolve => queueMicrotask(resolve));

function key(el: HTMLElement, name: string): void {
  el.querySelector('.ddp-ImageGrid-scroll')!.dispatchEvent(new KeyboardEvent('keydown', { key: name, bubbles: true }));
}

afterEach(() => {
  views.splice(0).forEach(view => view.dispose());
  document.body.replaceChildren();
});

describe('ImageGridView', () => {
  it('draws one tile per image with its label and the title', () => {
    const model = new FakeModel({ ...uint8Images(5), labels: ['a', 'b', 'c', 'd', 'e'], title: 'Top images' });
    const { el } = show(model);
    expect(tiles(el)).toHaveLength(5);
    expect(tiles(el).map(tile => tile.querySelector('.ddp-ImageGrid-label')!.textContent)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(el.querySelectorAll('.ddp-ImageGrid-tile canvas')).toHaveLength(5);
    expect(el.querySelector('.ddp-ImageGrid-title')!.textContent).toBe('Top images');
    expect(el.classList.contains('ddp-ImageGrid')).toBe(true);
  });

  it('a click selects the tile and saves the change for Python', async () => {
    const model = new FakeModel(uint8Images(6));
    const { el } = show(model);
    tiles(el)[4].querySelector('canvas')!.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    expect(model.state.selected_index).toBe(4);
    expect(model.saved).toBe(1);
    await settle();
    expect(selected(el)).toEqual(['4']);
    expect(tiles(el)[4].getAttribute('aria-selected')).toBe('true');
  });

  it('ctrl/cmd-click toggles tiles, shift-click selects a range, a plain click one tile again', async () => {
    const model = new FakeModel(uint8Images(8));
    const { el } = show(model);
    const click = (i: number, init: MouseEventInit = {}): void => {
      tiles(el)[i].querySelector('canvas')!.dispatchEvent(new MouseEvent('click', { bubbles: true, ...init }));
    };
    click(1);
    click(4, { ctrlKey: true });
    expect([model.state.selected_index, model.state.selected_indices]).toEqual([4, [1, 4]]);
    expect(model.saved).toBe(2); // one message per click, both traits in it
    await settle();
    expect(selected(el)).toEqual(['1', '4']);
    expect(el.querySelector('.ddp-mod-focus')!.getAttribute('data-index')).toBe('4');
    click(6, { shiftKey: true });
    expect([model.state.selected_index, model.state.selected_indices]).toEqual([6, [4, 5, 6]]);
    click(2, { metaKey: true });
    click(5, { ctrlKey: true }); // off again: the focus goes to the nearest selected tile before it
    expect([model.state.selected_index, model.state.selected_indices]).toEqual([4, [2, 4, 6]]);
    await settle();
    expect(selected(el)).toEqual(['2', '4', '6']);
    click(3);
    expect([model.state.selected_index, model.state.selected_indices]).toEqual([3, []]);
    await settle();
    expect(selected(el)).toEqual(['3']);
    expect(tiles(el)[6].getAttribute('aria-selected')).toBe('false');
  });

  it('highlights the several tiles Python selects, and none past the last tile', async () => {
    const model = new FakeModel(uint8Images(5));
    const { el } = show(model);
    model.update({ selected_index: 3, selected_indices: [0, 3, 9] });
    await settle();
    expect(selected(el)).toEqual(['0', '3']);
    model.update({ selected_indices: [] });
    await settle();
    expect(selected(el)).toEqual(['3']);
  });

  it('arrow keys move the selection by one tile or one row, clamped at the ends', async () => {
    const model = new FakeModel({ ...uint8Images(7), columns: 3 });
    const { el } = show(model);
    const steps: [string, number][] = [
      ['ArrowRight', 0], // nothing selected: the first tile
      ['ArrowDown', 3],
      ['ArrowDown', 6],
      ['ArrowDown', 6], // clamped at the last tile
      ['ArrowLeft', 5],
      ['ArrowUp', 2],
      ['ArrowUp', 0] // clamped at the first
    ];
    for (const [name, expected] of steps) {
      key(el, name);
      await settle();
      expect([name, model.state.selected_index]).toEqual([name, expected]);
      expect(selected(el)).toEqual([String(expected)]);
    }
    key(el, 'Enter'); // not a navigation key: nothing happens
    expect(model.saved).toBe(steps.length);
  });

  it('moves the highlight when Python sets selected_index, and clears it with null', async () => {
    const model = new FakeModel(uint8Images(4));
    const { el } = show(model);
    model.update({ selected_index: 2 });
    await settle();
    expect(selected(el)).toEqual(['2']);
    model.update({ selected_index: null });
    await settle();
    expect(selected(el)).toEqual([]);
  });

  it('applies an update of data, shape and labels together: one consistent redraw', async () => {
    const model = new FakeModel({ ...uint8Images(2), labels: ['x', 'y'] });
    const { el } = show(model);
    const before = tiles(el)[0];
    model.update({ ...uint8Images(3, 4, 5), labels: ['p', 'q', 'r'], selected_index: 1 });
    expect(tiles(el)[0]).toBe(before); // nothing redrawn until the whole message is in
    await settle();
    expect(tiles(el)).toHaveLength(3);
    expect(el.querySelector('.ddp-ImageGrid-message')!.textContent).toBe('');
    expect(tiles(el).map(tile => tile.textContent)).toEqual(['p', 'q', 'r']);
    expect((tiles(el)[0].querySelector('canvas') as HTMLCanvasElement).width).toBe(5);
    expect(selected(el)).toEqual(['1']);
  });

  it('lays tiles out in the requested columns at the tile size, without redrawing', async () => {
    const model = new FakeModel({ ...uint8Images(6), columns: 3, tile_size: 32 });
    const { el } = show(model);
    const canvas = el.querySelector('canvas');
    expect(tiles(el).map(tile => [tile.style.left, tile.style.top])).toEqual([
      ['0px', '0px'], ['36px', '0px'], ['72px', '0px'], ['0px', '36px'], ['36px', '36px'], ['72px', '36px']
    ]);
    model.update({ columns: 2, tile_size: 48 });
    await settle();
    expect(el.querySelector('canvas')).toBe(canvas);
    expect(tiles(el)[2].style.top).toBe('52px');
    expect(tiles(el)[1].style.width).toBe('48px');
  });

  it('says what is wrong instead of drawing wrong pixels', async () => {
    const model = new FakeModel({ ...uint8Images(3), shape: [4, 2, 2, 1] });
    const { el } = show(model);
    const message = el.querySelector('.ddp-ImageGrid-message')!.textContent;
    expect(message).toBe('ImageGrid cannot draw its images: data has 12 bytes but shape [4,2,2,1] of uint8 needs 16');
    expect(tiles(el)).toHaveLength(0);
    model.update({ dtype: 'float64' });
    await settle();
    expect(el.querySelector('.ddp-ImageGrid-message')!.textContent).toMatch(/dtype must be "uint8" or "float32"/);
    model.update({ ...uint8Images(0) });
    await settle();
    expect(el.querySelector('.ddp-ImageGrid-message')!.textContent).toBe('No images.');
  });

  it('shows the tooltip, else the label, of the tile under the mouse', () => {
    const model = new FakeModel({ ...uint8Images(2), labels: ['a', 'b'], tooltips: ['first\nline 2', ''] });
    const { el } = show(model);
    const tooltip = el.querySelector('.ddp-ImageGrid-tooltip')!;
    tiles(el)[0].dispatchEvent(new MouseEvent('mousemove', { bubbles: true }));
    expect(tooltip.textContent).toBe('first\nline 2');
    expect(tooltip.classList.contains('ddp-mod-visible')).toBe(true);
    tiles(el)[1].dispatchEvent(new MouseEvent('mousemove', { bubbles: true }));
    expect(tooltip.textContent).toBe('b');
    el.querySelector('.ddp-ImageGrid-tiles')!.dispatchEvent(new MouseEvent('mouseleave'));
    expect(tooltip.classList.contains('ddp-mod-visible')).toBe(false);
  });

  it('listens to every drawn trait and stops on dispose', () => {
    const model = new FakeModel(uint8Images(1));
    const { view } = show(model);
    expect(model.listenerCount()).toBe(TRAIT_NAMES.length - 1); // all but tooltips, read on hover
    view.dispose();
    expect(model.listenerCount()).toBe(0);
  });
});

describe('the anywidget module', () => {
  it('renders into the element it is given and returns a cleanup', async () => {
    const model = new FakeModel(uint8Images(3));
    const el = document.createElement('div');
    const render = imageGridModule.render as (props: { model: unknown; el: HTMLElement }) => () => void;
    const cleanup = render({ model, el });
    expect(tiles(el)).toHaveLength(3);
    cleanup();
    expect(model.listenerCount()).toBe(0);
  });
});

describe('bytesOf', () => {
  it('views a DataView without copying and accepts ArrayBuffer and Uint8Array', () => {
    const buffer = new ArrayBuffer(16);
    const bytes = bytesOf(new DataView(buffer, 4, 8));
    expect(bytes.buffer).toBe(buffer);
    expect([bytes.byteOffset, bytes.byteLength]).toEqual([4, 8]);
    expect(bytesOf(buffer).byteLength).toBe(16);
    expect(bytesOf(null).byteLength).toBe(0);
  });
});
