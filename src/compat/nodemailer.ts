/** The `smtpwire/nodemailer` entry point (package.json `exports`); the code is in ./nodemailer/. */
export * from './nodemailer/index.js';
export { default } from './nodemailer/index.js';
