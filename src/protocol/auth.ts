/**
 * SMTP AUTH (RFC 4954): the mechanisms live in `protocol/sasl/`, one file each; this module keeps
 * the historical import path for the rest of the engine.
 */
export {
  type AccessTokenProvider,
  AUTH_METHODS,
  type AuthMethod,
  type ChannelBinding,
  type Credentials,
  chooseMechanism,
  createMechanism,
  MAX_CHALLENGES,
  type Mechanism,
  type MechanismContext,
  resolveToken,
  type SaslLoginOptions,
  type SaslTransport,
  saslLogin,
} from './sasl/index.js';
