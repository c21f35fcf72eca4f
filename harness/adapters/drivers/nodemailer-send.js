// Sends one message with Nodemailer, for smtp-harness's "nodemailer" client config.
//
//   node nodemailer-send.js --host=H --port=P --tls=none|starttls|implicit --ca=FILE
//        --from=ADDR --message=FILE [--name=EHLO] [--timeout=S] [--user=U --password-file=F]
//        [--token-file=F] [--method=PLAIN|LOGIN|CRAM-MD5|XOAUTH2] -- RCPT...
//
// Every value comes in one "--key=value" argument and recipients follow "--", so no value can
// be taken for an option. The message is handed over as it is (Nodemailer's `raw`), with the
// envelope given separately. Exit 0: accepted; 1: refused or failed, with "code NNN" when
// Nodemailer reports the server's reply code; 3: Nodemailer is not installed.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");

// Where the README's install line puts it (npm install --prefix ~/.cache/smtp-harness/node ...).
const MODULES = path.join(os.homedir(), ".cache", "smtp-harness", "node", "node_modules");

function parse(argv) {
  const opts = {};
  const rcpts = [];
  let afterOptions = false;
  for (const arg of argv) {
    if (afterOptions) rcpts.push(arg);
    else if (arg === "--") afterOptions = true;
    else {
      const m = /^--([a-z-]+)=([\s\S]*)$/.exec(arg);
      if (!m) throw new Error(`not a --key=value argument: ${JSON.stringify(arg)}`);
      opts[m[1]] = m[2];
    }
  }
  return { opts, rcpts };
}

function load() {
  try {
    return require(path.join(MODULES, "nodemailer"));
  } catch (err) {
    try {
      return require("nodemailer");
    } catch (_) {
      console.error(`nodemailer is not installed (npm install --prefix ~/.cache/smtp-harness/node nodemailer): ${err.message}`);
      process.exit(3);
    }
  }
}

async function main() {
  const { opts, rcpts } = parse(process.argv.slice(2));
  const nodemailer = load();
  const seconds = opts.timeout ? Number(opts.timeout) * 1000 : undefined;
  const transport = {
    host: opts.host,
    port: Number(opts.port),
    secure: opts.tls === "implicit",
    requireTLS: opts.tls === "starttls",
    ignoreTLS: opts.tls === "none",
    tls: { ca: [fs.readFileSync(opts.ca)], servername: opts["server-name"] },
  };
  if (opts.name !== undefined) transport.name = opts.name;
  if (seconds !== undefined) {
    transport.connectionTimeout = seconds;
    transport.greetingTimeout = seconds;
    transport.socketTimeout = seconds;
  }
  if (opts["token-file"] !== undefined) {
    transport.auth = { type: "OAuth2", user: opts.user, accessToken: fs.readFileSync(opts["token-file"], "utf8") };
  } else if (opts.user !== undefined) {
    transport.auth = { user: opts.user, pass: fs.readFileSync(opts["password-file"], "utf8") };
    if (opts.method) transport.authMethod = opts.method;
  }
  const transporter = nodemailer.createTransport(transport);
  try {
    const info = await transporter.sendMail({
      envelope: { from: opts.from, to: rcpts },
      raw: fs.readFileSync(opts.message),
    });
    console.log(`accepted: ${info.accepted.join(", ")}; response: ${info.response}`);
    if (info.rejected && info.rejected.length) console.log(`rejected: ${info.rejected.join(", ")}`);
  } catch (err) {
    const code = err.responseCode ? ` code ${err.responseCode}` : "";
    console.log(`failed:${code} ${err.code || ""} ${String(err.message).split("\n")[0]}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(`nodemailer-send: ${err.stack || err}`);
  process.exit(2);
});
