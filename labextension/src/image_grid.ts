/**
 * The ImageGrid's anywidget front-end module: bundled by `jlpm build:esm` into
 * ddp_widgets/static/image_grid.js, which the Python class sends as its `_esm`. It imports nothing from
 * JupyterLab, so it renders wherever anywidget does, with or without this package's JupyterLab extension.
 */

import type { Render } from '@anywidget/types';

import type { IImageGridTraits } from './traits';
import { ImageGridView } from './view';

const render: Render<IImageGridTraits> = ({ model, el }) => {
  const view = new ImageGridView(model, el);
  view.render();
  return () => view.dispose();
};

export default { render };
