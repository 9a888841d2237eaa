/**
 * Re-fit the hypergraph after its output is resized.
 *
 * The hypergraph view draws with ipycytoscape in an element of class `ddp-graph` whose node carries the
 * cytoscape instance (`_cyreg.cy`). Cytoscape redraws at the new size when its container is resized but
 * keeps its zoom and pan, so after the side panel opens or the window narrows the graph is cut off or
 * small. `watchGraphs` finds every such element as it enters the page (or gets that class) and, once
 * its size has settled (`REFIT_DELAY_MS` after it was first seen, or after its last change of more than
 * `SIZE_THRESHOLD_PX` in width or height), fits the view to the visible elements. It acts on sizes only:
 * clicks and graph changes that keep the size cause no work here. It also makes cytoscape forget where its
 * container was on the page whenever the pointer enters or presses on it (`forgetContainerPosition`).
 */

export const GRAPH_SELECTOR = '.ddp-graph';
export const REFIT_DELAY_MS = 120;
export const SIZE_THRESHOLD_PX = 2;
/** the padding of the layout's own fit (ddp_widgets/widgets/graph_adapter.py, `_LAYOUT`) */
export const FIT_PADDING_PX = 6;

/** The part of a cytoscape instance this module uses. */
export interface IFittableGraph {
  resize(): void;
  elements(selector: string): { length: number };
  fit(elements: { length: number }, padding: number): void;
}

export interface ISize {
  width: number;
  height: number;
}

/** True when `next` differs from `previous` by more than `threshold` px in width or height. */
export function sizeChanged(previous: ISize, next: ISize, threshold: number = SIZE_THRESHOLD_PX): boolean {
  return Math.abs(next.width - previous.width) > threshold || Math.abs(next.height - previous.height) > threshold;
}

export interface ITimers {
  set(callback: () => void, ms: number): number;
  clear(id: number): void;
}

const WINDOW_TIMERS: ITimers = {
  set: (callback, ms) => window.setTimeout(callback, ms),
  clear: id => window.clearTimeout(id)
};

/**
 * Debounced re-fit of one graph. `observe(size)` is fed every size its container reports. The graph is
 * fitted once the first size seen has settled (it may have been laid out at another size before it was
 * found: before the side panel closed, say), then after each change of more than `SIZE_THRESHOLD_PX`;
 * a size of 0 (a hidden output) is ignored. A graph with nothing drawn yet is left to its own layout.
 */
export class RefitOnResize {
  private fittedAt: ISize | null = null;
  private latest: ISize | null = null;
  private timer: number | null = null;

  constructor(
    private readonly graph: () => IFittableGraph | null,
    private readonly timers: ITimers = WINDOW_TIMERS,
    private readonly delay: number = REFIT_DELAY_MS
  ) {}

  observe(size: ISize): void {
    if (size.width <= 0 || size.height <= 0) {
      return;
    }
    this.cancel();
    this.latest = size;
    if (this.fittedAt === null || sizeChanged(this.fittedAt, size)) {
      this.timer = this.timers.set(() => this.refit(), this.delay);
    }
  }

  /** Drop a pending re-fit (the element left the page). */
  cancel(): void {
    if (this.timer !== null) {
      this.timers.clear(this.timer);
      this.timer = null;
    }
  }

  private refit(): void {
    this.timer = null;
    const cy = this.graph();
    if (!cy || !this.latest) {
      return;
    }
    const visible = cy.elements(':visible');
    if (visible.length === 0) {
      return;
    }
    cy.resize();
    cy.fit(visible, FIT_PADDING_PX);
    this.fittedAt = this.latest;
  }
}

/**
 * Cytoscape caches where its container is in the page and maps pointer positions with that cache. It
 * renews it on resizes and window scrolls, but not when the graph moves because something above it
 * changed height (a layer with fewer filter rows): then clicks land beside the nodes, or on nothing.
 * Forget the cache whenever the pointer enters the graph or presses on it, before cytoscape reads it.
 */
export function forgetContainerPosition(element: Element): void {
  const cy = cytoscapeOf(element) as (IFittableGraph & { renderer?: () => unknown }) | null;
  const renderer = cy?.renderer?.() as { invalidateContainerClientCoordsCache?: () => void } | undefined;
  renderer?.invalidateContainerClientCoordsCache?.();
}

/** The cytoscape instance ipycytoscape keeps on its element, once it has drawn. */
export function cytoscapeOf(element: Element): IFittableGraph | null {
  const registry = (element as Element & { _cyreg?: { cy?: IFittableGraph } })._cyreg;
  return registry?.cy ?? null;
}

type ResizeObserverFactory = (
  callback: ResizeObserverCallback
) => Pick<ResizeObserver, 'observe' | 'unobserve' | 'disconnect'>;

/** The `.ddp-graph` elements of a node: itself, and with `deep` those below it. */
function graphsIn(node: Node, deep: boolean = true): Element[] {
  if (!(node instanceof Element)) {
    return [];
  }
  const below = deep ? Array.from(node.getElementsByClassName(GRAPH_SELECTOR.slice(1))) : [];
  return node.matches(GRAPH_SELECTOR) ? [node, ...below] : below;
}

/**
 * Watch `root` for `.ddp-graph` elements (those there now and those added later) and re-fit each one
 * after a resize. Returns a function that stops watching.
 */
export function watchGraphs(
  root: Document | Element,
  makeResizeObserver: ResizeObserverFactory = callback => new ResizeObserver(callback),
  timers: ITimers = WINDOW_TIMERS
): () => void {
  const refits = new WeakMap<Element, RefitOnResize>(); // kept while the element lives: its fitted size
  const observed = new WeakSet<Element>();
  const listening = new WeakSet<Element>();
  const resizes = makeResizeObserver(entries => {
    for (const entry of entries) {
      const refit = refits.get(entry.target);
      if (!entry.target.isConnected) {
        // out of the page (its output cleared, or moved): no re-fit until it is back
        refit?.cancel();
        observed.delete(entry.target);
        resizes.unobserve(entry.target);
        continue;
      }
      const { width, height } = entry.contentRect;
      refit?.observe({ width, height });
    }
  });
  const watch = (element: Element): void => {
    if (!observed.has(element)) {
      if (!refits.has(element)) {
        refits.set(element, new RefitOnResize(() => cytoscapeOf(element), timers));
      }
      observed.add(element);
      resizes.observe(element);
      if (!listening.has(element)) {
        listening.add(element);
        const forget = (): void => forgetContainerPosition(element);
        element.addEventListener('pointerenter', forget);
        element.addEventListener('pointerdown', forget, true);
      }
    }
  };
  // ipywidgets may give a view its classes after its element is in the page: class changes are looked
  // at too (one classList check each; the subtree of an added node is searched once)
  const arrivals = new MutationObserver(records => {
    for (const record of records) {
      if (record.type === 'attributes') {
        graphsIn(record.target, false).forEach(watch);
      } else {
        record.addedNodes.forEach(node => graphsIn(node).forEach(watch));
      }
    }
  });
  const top = 'documentElement' in root ? root.documentElement : root;
  graphsIn(top).forEach(watch);
  arrivals.observe(root, { childList: true, subtree: true, attributes: true, attributeFilter: ['class'] });
  return () => {
    arrivals.disconnect();
    resizes.disconnect();
  };
}
