/**
 * The ImageGrid view, written against anywidget's model interface only (get, set, save_changes, on, off),
 * so that one ES module renders in every front end anywidget supports. src/image_grid.ts is that module.
 *
 * The view draws one small canvas per tile at the image's own resolution and lets CSS scale it to the
 * tile size (pixelated), so 512 tiles cost 512 putImageData calls and no per-pixel work on resize.
 * Mouse events are delegated to the grid container: one listener each, not one per tile. A click selects
 * one tile, ctrl/cmd-click toggles one and shift-click a range (grid.ts `clickSelection`); the focus and the
 * several selected tiles travel in one message.
 * Trait changes are collected and applied once per task (a microtask), so an update message that changes
 * data, shape and labels together redraws once, with all three consistent.
 */

import {
  clickMode,
  clickSelection,
  decodeTile,
  Dtype,
  expectedByteLength,
  fitTile,
  gridLayout,
  IGridLayout,
  IGridShape,
  isDtype,
  parseShape,
  RGBA,
  resolveScale,
  selectedTiles,
  tilePosition,
  typedView
} from './grid';
import { IImageGridTraits, ImageGridModel, TRAIT_EFFECTS, TRAIT_NAMES, TraitEffect } from './traits';

const GAP = 4;
const LABEL_HEIGHT = 18;

/** The binary `data` trait arrives as a DataView on a buffer; keep it as bytes, without copying. */
export function bytesOf(value: IImageGridTraits['data'] | null | undefined): Uint8Array {
  if (value instanceof DataView) {
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  }
  if (value instanceof ArrayBuffer) {
    return new Uint8Array(value);
  }
  if (value instanceof Uint8Array) {
    return value;
  }
  return new Uint8Array(0);
}

export class ImageGridView {
  private titleNode!: HTMLDivElement;
  private messageNode!: HTMLDivElement;
  private scrollNode!: HTMLDivElement;
  private tilesNode!: HTMLDivElement;
  private tooltipNode!: HTMLDivElement;
  private tiles: HTMLDivElement[] = [];
  private shape: IGridShape | null = null;
  private layout: IGridLayout | null = null;
  /** the focused tile and every selected one, as drawn */
  private focus: number | null = null;
  private selected = new Set<number>();
  private resizeObserver: ResizeObserver | null = null;
  private readonly pending = new Set<TraitEffect>();
  private readonly listeners: [string, () => void][] = [];

  constructor(
    private readonly model: ImageGridModel,
    readonly el: HTMLElement
  ) {}

  render(): void {
    this.el.classList.add('ddp-ImageGrid');
    this.titleNode = this.addDiv(this.el, 'ddp-ImageGrid-title');
    this.messageNode = this.addDiv(this.el, 'ddp-ImageGrid-message');
    this.scrollNode = this.addDiv(this.el, 'ddp-ImageGrid-scroll');
    this.scrollNode.tabIndex = 0;
    this.scrollNode.setAttribute('role', 'listbox');
    this.scrollNode.setAttribute('aria-multiselectable', 'true');
    this.tilesNode = this.addDiv(this.scrollNode, 'ddp-ImageGrid-tiles');
    this.tooltipNode = this.addDiv(this.el, 'ddp-ImageGrid-tooltip');
    this.tooltipNode.setAttribute('role', 'tooltip');

    this.tilesNode.addEventListener('click', this.onClick);
    this.tilesNode.addEventListener('mousemove', this.onMouseMove);
    this.tilesNode.addEventListener('mouseleave', this.hideTooltip);
    this.scrollNode.addEventListener('keydown', this.onKeyDown);
    this.scrollNode.addEventListener('scroll', this.hideTooltip);

    for (const name of TRAIT_NAMES) {
      const effect = TRAIT_EFFECTS[name];
      if (effect !== 'none') {
        const listener = (): void => this.schedule(effect);
        this.model.on(`change:${name}`, listener);
        this.listeners.push([`change:${name}`, listener]);
      }
    }
    if (typeof ResizeObserver !== 'undefined') {
      this.resizeObserver = new ResizeObserver(() => this.onResize());
      this.resizeObserver.observe(this.scrollNode);
    }
    this.updateTitle();
    this.renderTiles();
  }

  /** Stop listening to the model and the page; the host removes `el`. */
  dispose(): void {
    for (const [event, listener] of this.listeners) {
      this.model.off(event as `change:${keyof IImageGridTraits}`, listener);
    }
    this.listeners.length = 0;
    this.resizeObserver?.disconnect();
    this.resizeObserver = null;
    this.pending.clear();
  }

  private addDiv(parent: HTMLElement, className: string): HTMLDivElement {
    const div = document.createElement('div');
    div.className = className;
    parent.appendChild(div);
    return div;
  }

  /** Collect what changed; apply it once, after the rest of the update message has been set. */
  private schedule(effect: TraitEffect): void {
    if (this.pending.size === 0) {
      queueMicrotask(() => this.applyPending());
    }
    this.pending.add(effect);
  }

  private applyPending(): void {
    const pending = new Set(this.pending);
    this.pending.clear();
    if (pending.has('tiles')) {
      this.renderTiles(); // lays out and highlights too
    } else {
      if (pending.has('layout')) {
        this.layoutTiles();
      }
      if (pending.has('selection')) {
        this.updateSelection();
      }
    }
    if (pending.has('title')) {
      this.updateTitle();
    }
  }

  private updateTitle(): void {
    const title = String(this.model.get('title') ?? '');
    this.titleNode.textContent = title;
    this.titleNode.style.display = title ? '' : 'none';
  }

  private showMessage(text: string): void {
    this.messageNode.textContent = text;
    this.messageNode.style.display = text ? '' : 'none';
  }

  /** The images as the traits describe them; throws an Error that says what does not fit. */
  private readImages(): { shape: IGridShape; dtype: Dtype; values: Uint8Array | Float32Array } {
    const shape = parseShape(this.model.get('shape'));
    const dtype = this.model.get('dtype');
    if (!isDtype(dtype)) {
      throw new Error(`dtype must be "uint8" or "float32", got ${JSON.stringify(dtype)}`);
    }
    const bytes = bytesOf(this.model.get('data'));
    const expected = expectedByteLength(shape, dtype);
    if (bytes.byteLength !== expected) {
      throw new Error(
        `data has ${bytes.byteLength} bytes but shape ${JSON.stringify(this.model.get('shape'))} ` +
          `of ${dtype} needs ${expected}`
      );
    }
    return { shape, dtype, values: typedView(bytes, dtype) };
  }

  /** Decode every tile and rebuild the DOM of the grid. */
  private renderTiles(): void {
    this.tiles = [];
    this.focus = null;
    this.selected.clear();
    this.tilesNode.replaceChildren();
    this.hideTooltip();
    let images: ReturnType<ImageGridView['readImages']>;
    try {
      images = this.readImages();
    } catch (error) {
      this.shape = null;
      this.layout = null;
      this.showMessage(`ImageGrid cannot draw its images: ${(error as Error).message}`);
      return;
    }
    const { shape, dtype, values } = images;
    this.shape = shape;
    this.showMessage(shape.count === 0 ? 'No images.' : '');
    const scale = resolveScale(this.model.get('colormap'), dtype, values);
    const labels = this.model.get('labels') ?? [];
    const fragment = document.createDocumentFragment();
    let rgba: RGBA | undefined;
    for (let i = 0; i < shape.count; i++) {
      const tile = document.createElement('div');
      tile.className = 'ddp-ImageGrid-tile';
      tile.dataset.index = String(i);
      tile.setAttribute('role', 'option');
      const canvas = document.createElement('canvas');
      canvas.width = shape.width;
      canvas.height = shape.height;
      const context = canvas.getContext('2d');
      if (context && shape.width > 0 && shape.height > 0) {
        rgba = decodeTile(values, shape, i, scale, rgba);
        context.putImageData(new ImageData(rgba, shape.width, shape.height), 0, 0);
      }
      tile.appendChild(canvas);
      if (labels.length > 0) {
        const label = document.createElement('div');
        label.className = 'ddp-ImageGrid-label';
        label.textContent = labels[i] ?? '';
        tile.appendChild(label);
      }
      fragment.appendChild(tile);
      this.tiles.push(tile);
    }
    this.tilesNode.appendChild(fragment);
    this.layoutTiles();
    this.updateSelection();
  }

  private computeLayout(): IGridLayout | null {
    if (!this.shape) {
      return null;
    }
    const labels = this.model.get('labels') ?? [];
    return gridLayout({
      count: this.shape.count,
      availableWidth: this.scrollNode.clientWidth,
      tileSize: Number(this.model.get('tile_size')) || 64,
      columns: Number(this.model.get('columns')) || 0,
      gap: GAP,
      labelHeight: labels.length > 0 ? LABEL_HEIGHT : 0
    });
  }

  /** Position the tiles (no redraw: canvases keep their pixels, CSS scales them). */
  private layoutTiles(): void {
    const layout = this.computeLayout();
    this.layout = layout;
    if (!layout || !this.shape) {
      return;
    }
    this.tilesNode.style.width = `${layout.width}px`;
    this.tilesNode.style.height = `${layout.height}px`;
    const fitted = fitTile(this.shape.height, this.shape.width, layout.tileSize);
    this.tiles.forEach((tile, i) => {
      const { x, y } = tilePosition(layout, i);
      tile.style.left = `${x}px`;
      tile.style.top = `${y}px`;
      tile.style.width = `${layout.tileSize}px`;
      const canvas = tile.firstElementChild as HTMLCanvasElement;
      canvas.style.width = `${fitted.width}px`;
      canvas.style.height = `${fitted.height}px`;
      canvas.style.marginTop = `${Math.floor((layout.tileSize - fitted.height) / 2)}px`;
      canvas.style.marginBottom = `${Math.ceil((layout.tileSize - fitted.height) / 2)}px`;
    });
  }

  private onResize(): void {
    if (Number(this.model.get('columns')) > 0 || !this.layout) {
      return;
    }
    const next = this.computeLayout();
    if (next && next.columns !== this.layout.columns) {
      this.layoutTiles();
    }
  }

  /** The selection the traits hold, limited to the tiles there are. */
  private modelSelection(): { index: number | null; indices: number[] } {
    const inRange = (value: unknown): value is number =>
      typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < this.tiles.length;
    const index = this.model.get('selected_index');
    const indices = this.model.get('selected_indices') ?? [];
    return { index: inRange(index) ? index : null, indices: indices.filter(inRange) };
  }

  /** Highlight every selected tile (`selected_indices` and `selected_index`), whether Python or a click set them. */
  private updateSelection(): void {
    const selection = this.modelSelection();
    const next = new Set(selectedTiles(selection));
    for (const i of this.selected) {
      if (!next.has(i)) {
        this.tiles[i]?.classList.remove('ddp-mod-selected');
        this.tiles[i]?.setAttribute('aria-selected', 'false');
      }
    }
    for (const i of next) {
      this.tiles[i].classList.add('ddp-mod-selected');
      this.tiles[i].setAttribute('aria-selected', 'true');
    }
    this.tiles[this.focus ?? -1]?.classList.remove('ddp-mod-focus');
    this.tiles[selection.index ?? -1]?.classList.add('ddp-mod-focus');
    this.selected = next;
    this.focus = selection.index;
  }

  /** Set the focus and the several selected tiles in one message. */
  private select(index: number | null, indices: number[] = []): void {
    this.model.set('selected_index', index);
    this.model.set('selected_indices', indices);
    this.model.save_changes();
  }

  private tileIndex(target: EventTarget | null): number | null {
    const tile = (target as HTMLElement | null)?.closest?.('.ddp-ImageGrid-tile') as HTMLElement | null;
    if (!tile || !this.tilesNode.contains(tile)) {
      return null;
    }
    const index = Number(tile.dataset.index);
    return Number.isInteger(index) ? index : null;
  }

  private onClick = (event: MouseEvent): void => {
    const index = this.tileIndex(event.target);
    if (index !== null) {
      const next = clickSelection(this.modelSelection(), index, clickMode(event));
      this.select(next.index, next.indices);
      this.scrollNode.focus({ preventScroll: true });
    }
  };

  private onKeyDown = (event: KeyboardEvent): void => {
    if (!this.layout || this.tiles.length === 0) {
      return;
    }
    const steps: Record<string, number> = {
      ArrowLeft: -1,
      ArrowRight: 1,
      ArrowUp: -this.layout.columns,
      ArrowDown: this.layout.columns
    };
    const step = steps[event.key];
    if (step === undefined) {
      return;
    }
    event.preventDefault();
    const current = this.focus ?? (step > 0 ? -step : this.tiles.length - step);
    const next = Math.max(0, Math.min(this.tiles.length - 1, current + step));
    this.select(next);
    this.tiles[next].scrollIntoView({ block: 'nearest' });
  };

  private onMouseMove = (event: MouseEvent): void => {
    const index = this.tileIndex(event.target);
    if (index === null) {
      this.hideTooltip();
      return;
    }
    const tooltips = this.model.get('tooltips') ?? [];
    const labels = this.model.get('labels') ?? [];
    const text = tooltips[index] || labels[index] || `image ${index}`;
    if (this.tooltipNode.textContent !== text) {
      this.tooltipNode.textContent = text;
    }
    const box = this.el.getBoundingClientRect();
    this.tooltipNode.style.left = `${event.clientX - box.left + 12}px`;
    this.tooltipNode.style.top = `${event.clientY - box.top + 14}px`;
    this.tooltipNode.classList.add('ddp-mod-visible');
  };

  private hideTooltip = (): void => {
    this.tooltipNode?.classList.remove('ddp-mod-visible');
  };
}
