import { describe, expect, it } from 'vitest';

import { candidateNotebookPath, firstFreeNotebookPath, starterNotebook } from '../src/starter';

describe('starterNotebook', () => {
  const notebook = starterNotebook();
  const code = notebook.cells.filter(cell => cell.cell_type === 'code').map(cell => cell.source);

  it('is an nbformat 4.5 notebook with unique cell ids and empty outputs', () => {
    expect(notebook.nbformat).toBe(4);
    expect(notebook.nbformat_minor).toBe(5);
    const ids = notebook.cells.map(cell => cell.id);
    expect(new Set(ids).size).toBe(notebook.cells.length);
    ids.forEach(id => expect(id).toMatch(/^[a-zA-Z0-9_-]{1,64}$/));
    notebook.cells
      .filter(cell => cell.cell_type === 'code')
      .forEach(cell => expect(cell).toMatchObject({ outputs: [], execution_count: null }));
    expect(notebook.metadata.kernelspec).toMatchObject({ name: 'python3', language: 'python' });
  });

  it('starts with a markdown header, then imports, the default model and the spectral metrics', () => {
    expect(notebook.cells[0].cell_type).toBe('markdown');
    expect(notebook.cells[0].source.startsWith('# ')).toBe(true);
    const all = code.join('\n');
    expect(code[0]).toContain('import ddp_widgets');
    expect(all).toContain('from ddp_widgets.zoo import load_default_model, load_default_data');
    expect(all).toContain('model = load_default_model()');
    expect(all).toContain('analysis = ddp_widgets.SpectralAnalysis(model)');
    expect(all).toContain('analysis.metrics()');
  });

  it('offers a torchvision model as a commented, offline alternative', () => {
    const alternative = code.join('\n').split('\n').filter(line => line.includes('torchvision'));
    expect(alternative).toContain('# model = torchvision.models.resnet18(weights=None)');
    alternative.forEach(line => expect(line.trimStart().startsWith('#')).toBe(true));
  });

  it('returns fresh objects, so one notebook cannot alter the next', () => {
    const first = starterNotebook();
    first.cells[1].source = 'changed';
    expect(starterNotebook().cells[1].source).not.toBe('changed');
  });
});

describe('candidateNotebookPath', () => {
  it('numbers the names after the first and joins the directory', () => {
    expect(candidateNotebookPath('', 0)).toBe('svd-exploration.ipynb');
    expect(candidateNotebookPath('', 2)).toBe('svd-exploration-2.ipynb');
    expect(candidateNotebookPath('work/nb/', 1)).toBe('work/nb/svd-exploration-1.ipynb');
  });
});

describe('firstFreeNotebookPath', () => {
  it('takes the first name not in the directory', () => {
    expect(firstFreeNotebookPath('', [])).toBe('svd-exploration.ipynb');
    expect(firstFreeNotebookPath('nb', ['svd-exploration.ipynb', 'other.ipynb'])).toBe('nb/svd-exploration-1.ipynb');
    expect(firstFreeNotebookPath('', ['svd-exploration.ipynb', 'svd-exploration-1.ipynb', 'svd-exploration-3.ipynb'])).toBe(
      'svd-exploration-2.ipynb'
    );
  });
});
