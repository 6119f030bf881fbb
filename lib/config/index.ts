export * from './load';
export * from './schema';
export { validateConfig } from './validate';
export * from './options';
