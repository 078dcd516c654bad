// Placeholder until the PostgreSQL harness lands.
export default async function globalSetup() {}
