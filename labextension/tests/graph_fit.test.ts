// @vitest-environment happy-dom
/**
 * The hypergraph's re-fit after a resize: once when first seen, then debounced, only for real size
 * changes (> 2 px), never at size 0 or with nothing drawn, for every `.ddp-graph` element in the page,
 * present or added later.
 */

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import {
  FIT_PADDING_PX,
  forgetContainerPosition,
  IFittableGraph,
  ITimers,
  REFIT_DELAY_MS,
  RefitOnResize,
  sizeChanged,
  watchGraphs
} from '../src/graph_fit';

/** A cytoscape stand-in that records what was asked of it. */
class FakeGraph implements IFittableGraph {
  calls: string[] = [];
  visible = 5;

  resize(): void {
    this.calls.push('resize');
  }

  elements(selector: string): { length: number } {
    this.calls.push(`elements(${selector})`);
    return { length: this.visible };
  }

  fit(elements: { length: number }, padding: number): void {
    this.calls.push(`fit(${elements.length}, ${padding})`);
  }
}

const timers: ITimers = {
  set: (callback, ms) => setTimeout(callback, ms) as unknown as number,
  clear: id => clearTimeout(id)
};

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  document.body.replaceChildren();
});

describe('sizeChanged', () => {
  it('needs more than the threshold in width or height', () => {
    const before = { width: 600, height: 380 };
    expect(sizeChanged(before, { width: 602, height: 378 })).toBe(false);
    expect(sizeChanged(before, { width: 603, height: 380 })).toBe(true);
    expect(sizeChanged(before, { width: 600, height: 377 })).toBe(true);
  });
});

describe('RefitOnResize', () => {
  const refitter = (graph: FakeGraph | null = new FakeGraph()): RefitOnResize =>
    new RefitOnResize(() => graph, timers);

  const FITTED = ['elements(:visible)', 'resize', `fit(5, ${FIT_PADDING_PX})`];

  /** A refitter that has done its first fit, at 600 x 380. */
  const fitted = (graph: FakeGraph): RefitOnResize => {
    const refit = refitter(graph);
    refit.observe({ width: 600, height: 380 });
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(graph.calls).toEqual(FITTED);
    graph.calls = [];
    return refit;
  };

  it('fits the graph once at the first size it settles at (it may have been laid out at another)', () => {
    const graph = new FakeGraph();
    const refit = refitter(graph);
    refit.observe({ width: 300, height: 380 });
    refit.observe({ width: 600, height: 380 });
    vi.advanceTimersByTime(REFIT_DELAY_MS - 1);
    expect(graph.calls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(graph.calls).toEqual(FITTED);
    vi.advanceTimersByTime(1000);
    expect(graph.calls).toHaveLength(3);
  });

  it('fits once, after the size has settled, to the visible elements', () => {
    const graph = new FakeGraph();
    const refit = fitted(graph);
    for (const width of [580, 540, 500, 460]) {
      refit.observe({ width, height: 380 });
      vi.advanceTimersByTime(REFIT_DELAY_MS - 20);
    }
    expect(graph.calls).toEqual([]);
    vi.advanceTimersByTime(20);
    expect(graph.calls).toEqual(FITTED);
    vi.advanceTimersByTime(1000);
    expect(graph.calls).toHaveLength(3);
  });

  it('ignores changes of 2 px or less, and a size that comes back before the delay', () => {
    const graph = new FakeGraph();
    const refit = fitted(graph);
    refit.observe({ width: 602, height: 382 });
    refit.observe({ width: 500, height: 380 });
    refit.observe({ width: 601, height: 380 });
    vi.advanceTimersByTime(1000);
    expect(graph.calls).toEqual([]);
  });

  it('compares with the size it last fitted at', () => {
    const graph = new FakeGraph();
    const refit = fitted(graph);
    refit.observe({ width: 500, height: 380 });
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    refit.observe({ width: 501, height: 380 }); // 1 px from the fitted size
    vi.advanceTimersByTime(1000);
    expect(graph.calls.filter(c => c === 'resize')).toHaveLength(1);
    refit.observe({ width: 600, height: 380 }); // back to the first size: a real change again
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(graph.calls.filter(c => c === 'resize')).toHaveLength(2);
  });

  it('ignores a hidden output (size 0)', () => {
    const graph = new FakeGraph();
    const refit = fitted(graph);
    refit.observe({ width: 0, height: 0 });
    vi.advanceTimersByTime(1000);
    refit.observe({ width: 600, height: 380 });
    vi.advanceTimersByTime(1000);
    expect(graph.calls).toEqual([]);
  });

  it('leaves a graph with nothing drawn yet to its own layout, and fits it at the next size change', () => {
    const graph = new FakeGraph();
    graph.visible = 0;
    const refit = refitter(graph);
    refit.observe({ width: 600, height: 380 });
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(graph.calls).toEqual(['elements(:visible)']);
    graph.visible = 5;
    graph.calls = [];
    refit.observe({ width: 601, height: 380 }); // not fitted yet: any size is worth a fit
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(graph.calls).toEqual(FITTED);
  });

  it('waits for cytoscape: no instance yet, no fit, and the next size still fits', () => {
    let graph: FakeGraph | null = null;
    const refit = new RefitOnResize(() => graph, timers);
    refit.observe({ width: 600, height: 380 });
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    graph = new FakeGraph();
    refit.observe({ width: 601, height: 380 });
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(graph.calls).toEqual(FITTED);
  });
});

/** A ResizeObserver stand-in: the test reports sizes itself. */
class FakeResizeObserver {
  static last: FakeResizeObserver | null = null;
  targets = new Set<Element>();

  constructor(private readonly callback: ResizeObserverCallback) {
    FakeResizeObserver.last = this;
  }

  observe(target: Element): void {
    this.targets.add(target);
  }

  unobserve(target: Element): void {
    this.targets.delete(target);
  }

  disconnect(): void {
    this.targets.clear();
  }

  report(target: Element, width: number, height: number): void {
    const entry = { target, contentRect: { width, height } } as unknown as ResizeObserverEntry;
    this.callback([entry], this as unknown as ResizeObserver);
  }
}

function graphElement(graph: FakeGraph): HTMLDivElement {
  const el = document.createElement('div');
  el.className = 'ddp-graph';
  (el as unknown as { _cyreg: { cy: FakeGraph } })._cyreg = { cy: graph };
  return el;
}

describe('watchGraphs', () => {
  const watch = (): (() => void) => watchGraphs(document, callback => new FakeResizeObserver(callback), timers);

  it('watches graphs already in the page and those added later, deep in an output', async () => {
    const first = new FakeGraph();
    const present = graphElement(first);
    document.body.appendChild(present);
    const stop = watch();
    const observer = FakeResizeObserver.last!;
    expect([...observer.targets]).toEqual([present]);

    const second = new FakeGraph();
    const output = document.createElement('div');
    output.className = 'ddp-graph-box'; // not itself a graph
    output.appendChild(graphElement(second));
    document.body.appendChild(output);
    await Promise.resolve(); // mutation records are delivered in a microtask
    expect(observer.targets.size).toBe(2);

    const added = output.firstElementChild!;
    observer.report(added, 600, 380);
    observer.report(added, 450, 380);
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(second.calls).toContain(`fit(5, ${FIT_PADDING_PX})`);
    expect(first.calls).toEqual([]);
    stop();
  });

  it('watches an element that becomes a graph when its class is set after it entered the page', async () => {
    const graph = new FakeGraph();
    const el = graphElement(graph);
    el.className = 'lm-Widget';
    document.body.appendChild(el);
    const stop = watch();
    const observer = FakeResizeObserver.last!;
    expect(observer.targets.size).toBe(0);
    el.classList.add('ddp-graph');
    await Promise.resolve();
    expect([...observer.targets]).toEqual([el]);
    stop();
  });

  it('stops observing a graph that left the page, and keeps its fitted size for its return', async () => {
    const graph = new FakeGraph();
    const el = graphElement(graph);
    document.body.appendChild(el);
    const stop = watch();
    const observer = FakeResizeObserver.last!;
    observer.report(el, 600, 380);
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    graph.calls = [];
    observer.report(el, 400, 380);
    el.remove(); // before the re-fit was due
    observer.report(el, 0, 0);
    vi.advanceTimersByTime(1000);
    expect(graph.calls).toEqual([]);
    expect(observer.targets.size).toBe(0);
    document.body.appendChild(el);
    await Promise.resolve();
    expect(observer.targets.size).toBe(1);
    observer.report(el, 600, 380); // back at the size it was fitted at: nothing to do
    vi.advanceTimersByTime(1000);
    expect(graph.calls).toEqual([]);
    observer.report(el, 400, 380);
    vi.advanceTimersByTime(REFIT_DELAY_MS);
    expect(graph.calls).toContain(`fit(5, ${FIT_PADDING_PX})`);
    stop();
  });

  it('does nothing on changes inside the page that are not new graphs', async () => {
    const graph = new FakeGraph();
    document.body.appendChild(graphElement(graph));
    const stop = watch();
    const observer = FakeResizeObserver.last!;
    const tile = document.createElement('div');
    document.body.appendChild(tile);
    tile.textContent = 'clicked';
    await Promise.resolve();
    vi.advanceTimersByTime(1000);
    expect(observer.targets.size).toBe(1);
    expect(graph.calls).toEqual([]);
    stop();
  });
});

describe('forgetContainerPosition', () => {
  it("drops cytoscape's cached container position, and does nothing before cytoscape has drawn", () => {
    const invalidate = vi.fn();
    const element = document.createElement('div');
    expect(() => forgetContainerPosition(element)).not.toThrow();
    (element as unknown as { _cyreg: unknown })._cyreg = {
      cy: { renderer: () => ({ invalidateContainerClientCoordsCache: invalidate }) }
    };
    forgetContainerPosition(element);
    expect(invalidate).toHaveBeenCalledTimes(1);
  });
});
