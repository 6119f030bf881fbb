// Placeholder until the master runtime lands; the CDK bundle points at this entry.
export {};
