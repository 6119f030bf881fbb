import { build } from 'esbuild';
import { BROWSER_CLIENT, forbiddenBrowserInputs } from '../../../scripts/build-package';

/** The browser SDK as the package builds it (scripts/build-package.ts): no package, no Node module. */
describe('the browser client bundle', () => {
  test('takes nothing from node_modules and imports no Node module', async () => {
    const { metafile } = await build({ ...BROWSER_CLIENT, write: false });

    expect(forbiddenBrowserInputs(metafile)).toEqual([]);
    expect(Object.keys(metafile.inputs).every((input) => /^runtime\/(client|contract)\//.test(input))).toBe(
      true,
    );
  });

  test('the check names a module that brings zod in', async () => {
    const { metafile } = await build({
      ...BROWSER_CLIENT,
      entryPoints: ['runtime/contract/messages.ts'],
      write: false,
    });

    expect(forbiddenBrowserInputs(metafile)).toContainEqual(expect.stringMatching(/node_modules\/zod\//));
  });
});
