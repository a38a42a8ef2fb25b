/**
 * The MIME builder's module surface: {@link buildMessage} and the encoders it is made of. Only
 * `buildMessage` and its types are public (re-exported by `src/index.ts`); the encoders are internal.
 */
export { type BuildMessageOptions, type BuiltMessage, buildMessage } from './builder.js';
export {
  base64EncodedLength,
  base64Lines,
  base64Stream,
  decodeQuotedPrintable,
  decodeWords,
  type EncodeUnstructuredOptions,
  encodeBase64,
  encodeQuotedPrintable,
  encodeUnstructured,
  encodeWords,
  foldHeader,
  MAX_ENCODED_LINE_LENGTH,
  MAX_ENCODED_WORD_LENGTH,
  MAX_HARD_LINE_LENGTH,
  MAX_LINE_LENGTH,
} from './encodings.js';
export { DEFAULT_CONTENT_TYPE, formatDate, guessContentType } from './headers.js';
export {
  encodeParameter,
  filenameParameter,
  formatParameterField,
  nameParameter,
  quoteParameterValue,
} from './params.js';
