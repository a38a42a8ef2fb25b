/**
 * The MIME builder's public surface: {@link buildMessage} and the encoders it is made of.
 */
export { buildMessage, type BuildMessageOptions, type BuiltMessage } from './builder.js';
export {
  Base64Encoder,
  MAX_ENCODED_LINE_LENGTH,
  MAX_ENCODED_WORD_LENGTH,
  MAX_HARD_LINE_LENGTH,
  MAX_LINE_LENGTH,
  base64EncodedLength,
  decodeQuotedPrintable,
  decodeWords,
  encodeBase64,
  encodeParameter,
  encodeQuotedPrintable,
  encodeUnstructured,
  encodeWords,
  foldHeader,
  type EncodeUnstructuredOptions,
} from './encodings.js';
export { DEFAULT_CONTENT_TYPE, formatDate, guessContentType } from './headers.js';
