// Loaded with `node --import`: any attempt to resolve an @opentelemetry/* module fails loudly, as it
// would for a user who never installed the optional peer.
import { register } from 'node:module';

const hook = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) {
    const err = new Error('DENIED ' + specifier);
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
