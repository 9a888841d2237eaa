/**
 * The JupyterLab plugin of ddp-widgets: what only JupyterLab has.
 * - `ddp-widgets:launcher` adds the "New SVD exploration" and "About ddp-widgets" commands, a palette
 *   entry for each and a launcher card.
 * - `ddp-widgets:graph-fit` re-fits the hypergraph view to its output after the output is resized.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, showDialog } from '@jupyterlab/apputils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { watchGraphs } from './graph_fit';
import { firstFreeNotebookPath, starterNotebook } from './starter';
import { MODULE_VERSION } from './version';

export const COMMAND_NEW = 'ddp-widgets:new-svd-exploration';
export const COMMAND_ABOUT = 'ddp-widgets:about';
const CATEGORY = 'ddp-widgets';

// A 3x3 grid of tiles with a falling bar chart across it: image grids over a spectrum.
const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">
  <g class="jp-icon3" fill="#616161">
    <rect x="2" y="2" width="5" height="5" rx="0.5"/><rect x="9.5" y="2" width="5" height="5" rx="0.5"/>
    <rect x="17" y="2" width="5" height="5" rx="0.5"/><rect x="2" y="9.5" width="5" height="5" rx="0.5"/>
    <rect x="2" y="17" width="5" height="5" rx="0.5"/>
  </g>
  <g class="jp-icon-brand0" fill="#1976d2">
    <rect x="9.5" y="11" width="2.5" height="11"/><rect x="13.5" y="15" width="2.5" height="7"/>
    <rect x="17.5" y="18.5" width="2.5" height="3.5"/>
  </g>
</svg>`;

export const svdIcon = new LabIcon({ name: 'ddp-widgets:svd', svgstr: ICON_SVG });

/** Save the starter notebook under the first free name in `directory` and return its path. */
async function createStarterNotebook(app: JupyterFrontEnd, directory: string): Promise<string> {
  const contents = app.serviceManager.contents;
  // List the directory once rather than probing names (a probe of a free name is a 404 in the console).
  const listing = await contents.get(directory, { content: true });
  const taken = ((listing.content as { name: string }[] | null) ?? []).map(item => item.name);
  const path = firstFreeNotebookPath(directory, taken);
  await contents.save(path, { type: 'notebook', format: 'json', content: starterNotebook() });
  return path;
}

const launcherPlugin: JupyterFrontEndPlugin<void> = {
  id: 'ddp-widgets:launcher',
  description: 'Commands, palette entries and a launcher card to start an SVD exploration notebook.',
  autoStart: true,
  optional: [ILauncher, ICommandPalette, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    launcher: ILauncher | null,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null
  ): void => {
    app.commands.addCommand(COMMAND_NEW, {
      label: 'New SVD exploration',
      caption: 'Create a notebook that explores the SVD of a CNN with ddp-widgets',
      icon: svdIcon,
      execute: async args => {
        const directory = typeof args.cwd === 'string' ? args.cwd : (browser?.model.path ?? '');
        const path = await createStarterNotebook(app, directory);
        return app.commands.execute('docmanager:open', { path, factory: 'Notebook' });
      }
    });
    app.commands.addCommand(COMMAND_ABOUT, {
      label: 'About ddp-widgets',
      caption: 'Show the installed version of ddp-widgets',
      execute: () => {
        const body = document.createElement('div');
        body.className = 'ddp-About';
        const version = document.createElement('p');
        version.textContent = `ddp-widgets ${MODULE_VERSION}`;
        version.className = 'ddp-About-version';
        const text = document.createElement('p');
        text.textContent =
          'The SVD of convolutional weights, explored in JupyterLab. The Python package and this ' +
          'JupyterLab extension share this version number.';
        body.append(version, text);
        return showDialog({ title: 'About ddp-widgets', body: new Widget({ node: body }), buttons: [Dialog.okButton()] });
      }
    });
    palette?.addItem({ command: COMMAND_NEW, category: CATEGORY });
    palette?.addItem({ command: COMMAND_ABOUT, category: CATEGORY });
    launcher?.add({ command: COMMAND_NEW, category: 'ddp-widgets', rank: 1 });
  }
};

const graphFitPlugin: JupyterFrontEndPlugin<void> = {
  id: 'ddp-widgets:graph-fit',
  description: 'Re-fits the hypergraph view to the visible graph after its output is resized.',
  autoStart: true,
  activate: (): void => {
    watchGraphs(document);
  }
};

const plugins: JupyterFrontEndPlugin<void>[] = [launcherPlugin, graphFitPlugin];
export default plugins;
