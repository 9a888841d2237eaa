/**
 * The starter notebook that "New SVD exploration" creates. Pure data, unit-tested in tests/starter.test.ts.
 */

export interface INotebookCell {
  id?: string;
  cell_type: 'markdown' | 'code';
  metadata: Record<string, unknown>;
  source: string;
  outputs?: unknown[];
  execution_count?: number | null;
}

export interface INotebookContent {
  cells: INotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

function markdown(source: string): INotebookCell {
  return { cell_type: 'markdown', metadata: {}, source };
}

function code(source: string): INotebookCell {
  return { cell_type: 'code', metadata: {}, source, outputs: [], execution_count: null };
}

export const STARTER_CELLS: readonly INotebookCell[] = [
  markdown(
    [
      '# SVD exploration',
      '',
      'The singular value decomposition of every convolutional and linear layer of a CNN, with each',
      "layer's spectrum judged against random-matrix theory. Run the cells from the top; the default",
      'model is embedded in ddp-widgets and needs no download.'
    ].join('\n')
  ),
  code(['import ddp_widgets', 'from ddp_widgets.zoo import load_default_model, load_default_data'].join('\n')),
  code(
    [
      'model = load_default_model()  # a small VGG-style CNN trained on Fashion-MNIST',
      '',
      '# Or any torchvision model by name (random weights, no download):',
      '# import torchvision',
      '# model = torchvision.models.resnet18(weights=None)'
    ].join('\n')
  ),
  code(['analysis = ddp_widgets.SpectralAnalysis(model)', 'analysis.metrics()'].join('\n'))
];

/** A fresh nbformat 4 notebook with the starter cells, for the given kernel. */
export function starterNotebook(kernelName = 'python3', displayName = 'Python 3 (ipykernel)'): INotebookContent {
  return {
    cells: STARTER_CELLS.map((cell, i) => ({
      ...cell,
      id: `ddp-starter-${i}`,
      metadata: {},
      ...(cell.outputs ? { outputs: [] } : {})
    })),
    metadata: {
      kernelspec: { name: kernelName, display_name: displayName, language: 'python' },
      language_info: { name: 'python' }
    },
    nbformat: 4,
    nbformat_minor: 5
  };
}

/** `stem.ipynb`, then `stem-1.ipynb`, `stem-2.ipynb`, ... inside `directory` ('' is the server root). */
export function candidateNotebookPath(directory: string, attempt: number, stem = 'svd-exploration'): string {
  const name = attempt === 0 ? `${stem}.ipynb` : `${stem}-${attempt}.ipynb`;
  const dir = directory.replace(/\/+$/, '');
  return dir ? `${dir}/${name}` : name;
}

/** The first candidate path whose file name is not among `taken` (the names in `directory`). */
export function firstFreeNotebookPath(directory: string, taken: Iterable<string>, stem = 'svd-exploration'): string {
  const names = new Set(taken);
  for (let attempt = 0; ; attempt++) {
    const path = candidateNotebookPath(directory, attempt, stem);
    if (!names.has(path.slice(path.lastIndexOf('/') + 1))) {
      return path;
    }
  }
}
