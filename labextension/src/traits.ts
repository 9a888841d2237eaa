/**
 * The synced traits of ddp_widgets.widgets.image_grid.ImageGrid: the one list the front end knows.
 *
 * `IImageGridTraits` types the anywidget model; `TRAIT_EFFECTS` says what a change of each trait redraws
 * and is checked against the interface by the compiler (a trait missing from it, or an unknown one, does
 * not build). tests/labextension/test_image_grid.py checks that this list equals the Python class's.
 */

import type { AnyModel } from '@anywidget/types';

import type { Colormap } from './grid';

export interface IImageGridTraits {
  /** pixels of all images, (n, h, w, c) in C order, little-endian; arrives as a binary buffer */
  data: DataView | ArrayBuffer | Uint8Array;
  /** [n, h, w, c] with c in {1, 3} */
  shape: number[];
  /** element type of data: "uint8" or "float32" (checked when drawn) */
  dtype: string;
  labels: string[];
  tooltips: string[];
  /** the focused tile: the one a plain click selects, or the last one ctrl/shift-clicked */
  selected_index: number | null;
  /** the several selected tiles, sorted; empty while one or none is selected */
  selected_indices: number[];
  colormap: Colormap;
  tile_size: number;
  columns: number;
  title: string;
}

export type ImageGridModel = AnyModel<IImageGridTraits>;

/**
 * What a change redraws: `tiles` decodes every image again, `layout` only moves them, `selection` moves
 * the highlights, `title` the heading; `none` is read when needed (tooltips on hover).
 */
export type TraitEffect = 'tiles' | 'layout' | 'selection' | 'title' | 'none';

export const TRAIT_EFFECTS: { readonly [K in keyof IImageGridTraits]-?: TraitEffect } = {
  data: 'tiles',
  shape: 'tiles',
  dtype: 'tiles',
  labels: 'tiles',
  colormap: 'tiles',
  tooltips: 'none',
  selected_index: 'selection',
  selected_indices: 'selection',
  tile_size: 'layout',
  columns: 'layout',
  title: 'title'
};

export const TRAIT_NAMES = Object.keys(TRAIT_EFFECTS) as (keyof IImageGridTraits)[];
