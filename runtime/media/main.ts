// Placeholder until the media runtime lands; the CDK bundle points at this entry.
export {};
