"""The profiles: Gmail (587 and 465), Outlook/Office 365, 163.com, QQ Mail and a plain Postfix.

Every reply names its source, from ``server-quirks.md`` (the team's catalogue of real replies)
and the corpus scenarios under ``scenarios/servers/``. Where no source shows the text, the
reply is marked ``synthetic`` and says what it is modelled on. Session tokens (Gmail's
``x62sm16538695wmf.13``, Outlook's bracketed host names) are the published ones, kept fixed.

Changed from the sources everywhere: ``CHUNKING`` and ``BINARYMIME`` are left out of the EHLO
lists, as in the corpus scenarios, because the profiles take messages by DATA only.
"""

from __future__ import annotations

import dataclasses

from fake_servers.profiles.model import Profile, said

__all__ = ["PROFILES", "get_profile"]

SYNTH_LOGIN = (
    "synthetic: the usual LOGIN prompts (the same ones QQ and Yahoo send, server-quirks §3, §6)"
)

# --- Gmail, smtp.gmail.com:587 ----------------------------------------------------------------

_G = "x62sm16538695wmf.13 - gsmtp"  # session token of github.com/mrisher/smtp-sts/pull/58

GMAIL = Profile(
    name="gmail",
    title="Gmail submission, smtp.gmail.com:587: STARTTLS, then AUTH, then mail",
    tls="starttls",
    greeting=said("github.com/mrisher/smtp-sts/pull/58", f"220 smtp.gmail.com ESMTP {_G}"),
    ehlo_plain=said(
        "synthetic: server-quirks §1 says the pre-TLS list is not found verbatim; "
        "expected without AUTH and with STARTTLS (as corpus servers/gmail/starttls-587-send)",
        "250-smtp.gmail.com at your service, [2604:a880:800:a1::ddc:6001]",
        "250-SIZE 35882577",
        "250-8BITMIME",
        "250-STARTTLS",
        "250-ENHANCEDSTATUSCODES",
        "250-PIPELINING",
        "250 SMTPUTF8",
    ),
    ehlo_tls=said(
        "github.com/WWBN/AVideo/issues/3212 (same list in bokysan/docker-postfix#101)",
        "250-smtp.gmail.com at your service, [2604:a880:800:a1::ddc:6001]",
        "250-SIZE 35882577",
        "250-8BITMIME",
        "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH",
        "250-ENHANCEDSTATUSCODES",
        "250-PIPELINING",
        "250 SMTPUTF8",
    ),
    helo=said(
        "synthetic: the first line of Gmail's EHLO reply", "250 smtp.gmail.com at your service"
    ),
    starttls=said("github.com/WWBN/AVideo/issues/3212", "220 2.0.0 Ready to start TLS"),
    auth_ok=said("github.com/kisli/vmime/issues/110", "235 2.7.0 Accepted"),
    auth_bad=said(
        "github.com/dawidd6/action-send-mail/issues/205 (2024 wording)",
        "535-5.7.8 Username and Password not accepted. For more information, go to",
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials "
        "af79cd13be357-794f3061475sm18893085a.74 - gsmtp",
    ),
    login_prompts=(
        said(SYNTH_LOGIN, "334 VXNlcm5hbWU6"),
        said(SYNTH_LOGIN, "334 UGFzc3dvcmQ6"),
    ),
    mail_ok=said("github.com/The-Login/SMTP-Smuggling-Tools/issues/11", f"250 2.1.0 OK {_G}"),
    rcpt_ok=said("github.com/The-Login/SMTP-Smuggling-Tools/issues/11", f"250 2.1.5 OK {_G}"),
    data_go=said("github.com/The-Login/SMTP-Smuggling-Tools/issues/11", f"354 Go ahead {_G}"),
    queued=said("github.com/kisli/vmime/issues/110", f"250 2.0.0 OK 1700000000 {_G}"),
    too_big=said(
        "github.com/nodemailer/nodemailer/issues/400 (note 5.2.3, not 5.3.4)",
        "552-5.2.3 Your message exceeded Google's message size limits. Please visit",
        "552-5.2.3 http://support.google.com/mail/bin/answer.py?answer=8770 to review our",
        "552 5.2.3 size guidelines. nb4sm10940064wjc.20 - gsmtp",
    ),
    bad_sequence=said(
        "synthetic: Gmail's shape, text not in server-quirks",
        f"503 5.5.1 Bad sequence of commands. {_G}",
    ),
    need_ehlo=said(
        "synthetic: Gmail's shape, text not in server-quirks", f"503 5.5.1 EHLO/HELO first. {_G}"
    ),
    syntax=said(
        "synthetic: Gmail's shape, text not in server-quirks", f"501 5.5.2 Syntax error. {_G}"
    ),
    unknown=said(
        "synthetic: Gmail's shape, text not in server-quirks",
        f"502 5.5.1 Unrecognized command. {_G}",
    ),
    no_recipients=said(
        "synthetic: Gmail's shape, text not in server-quirks", f"503 5.5.1 RCPT first. {_G}"
    ),
    rset=said("synthetic: Gmail's shape, text not in server-quirks", f"250 2.1.5 Flushed {_G}"),
    noop=said("synthetic: Gmail's shape, text not in server-quirks", f"250 2.0.0 OK {_G}"),
    bye=said(
        "synthetic, as in corpus servers/gmail/starttls-587-send",
        f"221 2.0.0 closing connection {_G}",
    ),
    closing=said(
        "github.com/sct/overseerr/issues/1887 (also calcom#5254, PHPMailer#2211)",
        "421 4.7.0 Try again later, closing connection. (EHLO) o24sm3175645oou.1 - gsmtp",
    ),
    size_limit=35882577,
    auth_needs_tls=said(
        "github.com/deanproxy/eMail/issues/53 (JavaMail got it at MAIL FROM: virtualzone/tubewarder#29)",
        "530 5.7.0 Must issue a STARTTLS command first. s31sm1331632ywa.30 - gsmtp",
    ),
    mail_needs_auth=said(
        "synthetic: Gmail's 530 5.7.0 after TLS without AUTH; text not in server-quirks",
        f"530 5.7.0 Authentication Required. {_G}",
    ),
    by_code={
        "auth:534": said(
            "github.com/iiuni/projektzapisy/issues/727 (reconstructed from smtplib's repr); PHPMailer#1708",
            "534-5.7.9 Application-specific password required. Learn more at",
            "534 5.7.9 https://support.google.com/mail/?p=InvalidSecondFactor n18sm8811765wru.2 - gsmtp",
        ),
        "dot:550": said(
            "docker-mailserver#2953 (line breaks reconstructed from a Postfix log)",
            "550-5.7.26 Unauthenticated email from domain.com is not accepted due to domain's",
            "550-5.7.26 DMARC policy. Please contact the administrator of domain.com domain if",
            "550-5.7.26 this was a legitimate mail. Please visit",
            "550-5.7.26  https://support.google.com/mail/answer/2451690 to learn about the",
            "550 5.7.26 DMARC initiative. 3-20020a056000154300b0026e3b31d1e2si2702975wry.1033 - gsmtp",
        ),
        "552": said(
            "github.com/nodemailer/nodemailer/issues/400",
            "552-5.2.3 Your message exceeded Google's message size limits. Please visit",
            "552-5.2.3 http://support.google.com/mail/bin/answer.py?answer=8770 to review our",
            "552 5.2.3 size guidelines. nb4sm10940064wjc.20 - gsmtp",
        ),
        "421": said(
            "github.com/sct/overseerr/issues/1887",
            "421 4.7.0 Try again later, closing connection. (EHLO) o24sm3175645oou.1 - gsmtp",
        ),
    },
    notes=(
        "AUTH is offered only after STARTTLS; AUTH or MAIL in clear gets 530 5.7.0.",
        "A 2-step-verified account needs an app password: fail={'auth': 534} sends Gmail's 534.",
    ),
)

GMAIL_465 = dataclasses.replace(
    GMAIL,
    name="gmail-465",
    title="Gmail, smtp.gmail.com:465: implicit TLS, AUTH, mail",
    tls="implicit",
    greeting=said(
        "github.com/kisli/vmime/issues/110", "220 mx.google.com ESMTP h5sm23980368wjn.20 - gsmtp"
    ),
    ehlo_tls=said(
        "github.com/kisli/vmime/issues/110 (2016)",
        "250-mx.google.com at your service, [217.91.11.112]",
        "250-SIZE 35882577",
        "250-8BITMIME",
        "250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN XOAUTH",
        "250-ENHANCEDSTATUSCODES",
        "250-PIPELINING",
        "250 SMTPUTF8",
    ),
    notes=("TLS from the first byte (RFC 8314 §3); no STARTTLS.",),
)

# --- Outlook / Office 365, smtp.office365.com:587 ----------------------------------------------

_O = "[AM3PR05CA0094.outlook.office365.com]"
_O_SYN = "synthetic: Exchange Online's usual text, not in server-quirks"

OUTLOOK = Profile(
    name="outlook",
    title="Outlook / Office 365 submission, smtp.office365.com:587: STARTTLS, AUTH LOGIN or XOAUTH2",
    tls="starttls",
    greeting=said(
        "github.com/simonrob/email-oauth2-proxy/issues/95",
        "220 AM3PR05CA0094.outlook.office365.com Microsoft ESMTP MAIL Service ready at "
        "Wed, 9 Nov 2022 10:09:41 +0000",
    ),
    ehlo_plain=said(
        "github.com/harishkrupo/oauth2ms/issues/5",
        "250-server.outlook.office365.com Hello [98.217.221.170]",
        "250-SIZE 157286400",
        "250-PIPELINING",
        "250-DSN",
        "250-ENHANCEDSTATUSCODES",
        "250-STARTTLS",
        "250-8BITMIME",
        "250 SMTPUTF8",
    ),
    ehlo_tls=said(
        "github.com/harishkrupo/oauth2ms/issues/5; corecode/dma#103 (AUTH after TLS, no STARTTLS)",
        "250-server.outlook.office365.com Hello [98.217.221.170]",
        "250-SIZE 157286400",
        "250-PIPELINING",
        "250-DSN",
        "250-ENHANCEDSTATUSCODES",
        "250-AUTH LOGIN XOAUTH2",
        "250-8BITMIME",
        "250 SMTPUTF8",
    ),
    helo=said(_O_SYN, "250 server.outlook.office365.com Hello [98.217.221.170]"),
    starttls=said("github.com/harishkrupo/oauth2ms/issues/5", "220 2.0.0 SMTP server ready"),
    auth_ok=said(_O_SYN, "235 2.7.0 Authentication successful"),
    auth_bad=said(
        "github.com/jstedfast/MailKit/issues/700",
        "535 5.7.3 Authentication unsuccessful [BN3PR03CA0067.namprd03.prod.outlook.com]",
    ),
    login_prompts=(said(SYNTH_LOGIN, "334 VXNlcm5hbWU6"), said(SYNTH_LOGIN, "334 UGFzc3dvcmQ6")),
    mail_ok=said(_O_SYN, "250 2.1.0 Sender OK"),
    rcpt_ok=said(_O_SYN, "250 2.1.5 Recipient OK"),
    data_go=said(_O_SYN, "354 Start mail input; end with <CRLF>.<CRLF>"),
    queued=said(_O_SYN, f"250 2.0.0 OK <0@AM3PR05CA0094> {_O}"),
    too_big=said(_O_SYN, f"552 5.3.4 Message size exceeds fixed maximum message size {_O}"),
    bad_sequence=said(_O_SYN, f"503 5.5.1 Bad sequence of commands {_O}"),
    need_ehlo=said(_O_SYN, f"503 5.5.2 Send hello first {_O}"),
    syntax=said(_O_SYN, f"501 5.5.4 Invalid arguments {_O}"),
    unknown=said(_O_SYN, f"500 5.3.3 Unrecognized command {_O}"),
    no_recipients=said(_O_SYN, f"503 5.5.2 Need rcpt command {_O}"),
    rset=said(_O_SYN, "250 2.0.0 Resetting"),
    noop=said(_O_SYN, "250 2.0.0 OK"),
    bye=said(_O_SYN, "221 2.0.0 Service closing transmission channel"),
    closing=said(
        "github.com/jstedfast/MailKit/issues/1106",
        "421 4.3.2 Service not active [TYAPR01CA0229.jpnprd01.prod.outlook.com]",
    ),
    size_limit=157286400,
    auth_needs_tls=said(
        "github.com/deanproxy/eMail/issues/44 (the reply to a mechanism it does not offer)",
        "504 5.7.4 Unrecognized authentication type [SN1NAM02FT025.eop-nam02.prod.protection.outlook.com]",
    ),
    mail_needs_auth=said(
        "github.com/tarickb/sasl-xoauth2/issues/96 (cut off in the source after the host name)",
        "530 5.7.57 Client not authenticated to send mail. [US22278CA0034.US7P278.PROD.OUTLOOK.COM]",
    ),
    bare_lf=said(
        "inverse-inc/packetfence#5380, Kitura/Swift-SMTP#128 (server-quirks §4: the NDR's code and "
        "gist; the wording is reconstructed)",
        "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal; message contains bare linefeeds",
    ),
    by_code={
        "auth:504": said(
            "github.com/deanproxy/eMail/issues/44; mikel/mail#1357",
            "504 5.7.4 Unrecognized authentication type [SN1NAM02FT025.eop-nam02.prod.protection.outlook.com]",
        ),
        "auth:535": said(
            "github.com/simonrob/email-oauth2-proxy/issues/193; nodemailer#1484",
            "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
            "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. "
            "[MN2PR05CA0004.namprd05.prod.outlook.com 2023-09-12T20:59:57.214Z 08DBB276B7E699C4]",
        ),
        "auth:451": said(
            "github.com/harishkrupo/oauth2ms/issues/5",
            "451 4.7.0 Temporary server error. Please try again later. PRX4  [server.prod.outlook.com]",
        ),
        "421": said(
            "github.com/jstedfast/MailKit/issues/1106",
            "421 4.3.2 Service not active [TYAPR01CA0229.jpnprd01.prod.outlook.com]",
        ),
    },
    notes=(
        "AUTH LOGIN and XOAUTH2 only, after STARTTLS (AUTH PLAIN gets 504 5.7.4, mirage/colombe#60).",
        "A message with a bare LF is refused with 550 5.6.11.",
    ),
)

# --- NetEase 163.com (Coremail), smtp.163.com:25 ----------------------------------------------

_N_EHLO = "server-quirks §2: public pentest notes (port 25, ~2014-2020)"
_N_FLOW = "hunterpro.net/archives/282 (server-quirks §2)"

NETEASE_163 = Profile(
    name="163",
    title="NetEase 163.com (Coremail), smtp.163.com:25: HELO or EHLO, AUTH LOGIN with lower-case prompts",
    tls="none",
    greeting=said(
        "server-quirks §2 (public notes; a Qt client expects the same greeting)",
        "220 163.com Anti-spam GT for Coremail System (163com[20141201])",
    ),
    ehlo_plain=said(
        _N_EHLO,
        "250-mail",
        "250-PIPELINING",
        "250-AUTH LOGIN PLAIN",
        "250-AUTH=LOGIN PLAIN",
        "250-coremail 1Uxr2xKj7kG0xkI17xGrU7I0s8FY2U3Uj8Cz28x1UUUUU7Ic2I0Y2Urit98DUCa0xDrUUUUj",
        "250-STARTTLS",
        "250 8BITMIME",
    ),
    ehlo_tls=said(
        f"{_N_EHLO}, without STARTTLS once TLS is on (synthetic: RFC 3207 §4.2)",
        "250-mail",
        "250-PIPELINING",
        "250-AUTH LOGIN PLAIN",
        "250-AUTH=LOGIN PLAIN",
        "250-coremail 1Uxr2xKj7kG0xkI17xGrU7I0s8FY2U3Uj8Cz28x1UUUUU7Ic2I0Y2Urit98DUCa0xDrUUUUj",
        "250 8BITMIME",
    ),
    helo=said("github.com/mludvig/smtp-cli/issues/4", "250 OK"),
    starttls=said("synthetic: Coremail's text is not in server-quirks", "220 Ready to start TLS"),
    auth_ok=said(_N_FLOW, "235 Authentication successful"),
    auth_bad=said(
        "github.com/hongrunhui/node_12306/issues/1; Vincedream/NodeMail#11",
        "535 Error: authentication failed",
    ),
    login_prompts=(
        said(f"{_N_FLOW}: base64 of lower-case 'username:'", "334 dXNlcm5hbWU6"),
        said(_N_FLOW, "334 UGFzc3dvcmQ6"),
    ),
    mail_ok=said(_N_FLOW, "250 Mail OK"),
    rcpt_ok=said(_N_FLOW, "250 Mail OK"),
    data_go=said(_N_FLOW, "354 End data with <CR><LF>.<CR><LF>"),
    queued=said(
        f"{_N_FLOW}; the queue id is made up, as in corpus servers/163/auth-login-lowercase-prompt",
        "250 Mail OK queued as smtp7,C8CowAD3lnH0s2Nl8mQWAQ--.2231S2 1701032948",
    ),
    too_big=said(
        "synthetic: Coremail's text is not in server-quirks", "552 Error: message too large"
    ),
    bad_sequence=said(
        "synthetic: Coremail's text is not in server-quirks", "503 Error: bad sequence of commands"
    ),
    need_ehlo=said(
        "synthetic: Coremail's text is not in server-quirks", "503 Error: send HELO/EHLO first"
    ),
    syntax=said("server-quirks §2 (the reply to a bare 'ehlo')", "500 Error: bad syntax"),
    unknown=said("server-quirks §2 (the reply to a bare 'ehlo')", "500 Error: bad syntax"),
    no_recipients=said(
        "synthetic: Coremail's text is not in server-quirks", "503 Error: need RCPT command"
    ),
    rset=said("synthetic, as in corpus servers/163/data-554-dt-spm", "250 OK"),
    noop=said("synthetic: Coremail's text is not in server-quirks", "250 OK"),
    bye=said(_N_FLOW, "221 Bye"),
    closing=said(
        "synthetic: Coremail's text is not in server-quirks", "421 Error: too many errors, closing"
    ),
    size_limit=50 * 1024 * 1024,  # synthetic: 163.com advertises no SIZE
    mail_needs_auth=said(
        "github.com/mludvig/smtp-cli/issues/4 (MAIL FROM after HELO, without AUTH)",
        "553 authentication is required,smtp13,EcCowECZoy+xLGNU4LXrAQ--.2290S2 1415785650",
    ),
    local_user_only=said(
        "github.com/ruanyf/weather-action/issues/5",
        "553 Local user only,163 smtp5,HdxpCgA3f+63sTNhtiNZDA--.2001S2 1630777785",
    ),
    by_code={
        "dot:554": said(
            "github.com/Vincedream/NodeMail/issues/20 (from 126.com); kootenpv/yagmail#144",
            "554 DT:SPM 126 smtp2,DMmowAAnNDQz4zxdCk6LIw--.52838S2 1564271411,please see "
            "http://mail.163.com/help/help_spam_16.htm?ip=219.143.176.2&hostid=smtp2&time=1564271411",
        ),
        "auth:550": said(
            "github.com/testerSunshine/12306/issues/62; open-falcon/mail-provider#6",
            "550 User has no permission",
        ),
    },
    notes=(
        "AUTH is offered in clear on port 25 (the password then crosses in clear: noted, not failed).",
        "MAIL without AUTH gets 553 authentication is required; MAIL FROM must be the login user.",
        "fail={'dot': 554} sends the DT:SPM spam verdict; the connection stays open.",
    ),
)

# --- QQ Mail, smtp.qq.com:465 ----------------------------------------------------------------

_Q = "github.com/midoks/imail wiki 'SMTP' (server-quirks §3)"

QQ = Profile(
    name="qq",
    title="QQ Mail, smtp.qq.com:465: implicit TLS, AUTH LOGIN with an authorization code",
    tls="implicit",
    greeting=said(_Q, "220 newxmesmtplogicsvrsza9.qq.com XMail Esmtp QQ Mail Server."),
    ehlo_plain=said(
        "synthetic, as in corpus servers/qq/auth-login-send-trailing-dots (the source shows only "
        "the HELO reply, whose first two lines it reuses)",
        "250-newxmesmtplogicsvrsza9.qq.com-9.21.152.27-23666742",
        "250-SIZE 73400320",
        "250-AUTH LOGIN PLAIN",
        "250 8BITMIME",
    ),
    ehlo_tls=said(
        "synthetic, as in corpus servers/qq/auth-login-send-trailing-dots",
        "250-newxmesmtplogicsvrsza9.qq.com-9.21.152.27-23666742",
        "250-SIZE 73400320",
        "250-AUTH LOGIN PLAIN",
        "250 8BITMIME",
    ),
    helo=said(
        f"{_Q}: HELO answered with a multi-line reply",
        "250-newxmesmtplogicsvrsza9.qq.com-9.21.152.27-23666742",
        "250-SIZE 73400320",
        "250 OK",
    ),
    starttls=said("synthetic: QQ's text is not in server-quirks", "220 Ready to start TLS."),
    auth_ok=said(_Q, "235 Authentication successful"),
    auth_bad=said(
        "github.com/louislam/uptime-kuma/issues/3434; YMFE/yapi#2219",
        "535 Login Fail. Please enter your authorization code to login. More information in "
        "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=28&&no=1001256",
    ),
    login_prompts=(said(_Q, "334 VXNlcm5hbWU6"), said(_Q, "334 UGFzc3dvcmQ6")),
    mail_ok=said(_Q, "250 OK."),
    rcpt_ok=said(_Q, "250 OK"),
    data_go=said(_Q, "354 End data with <CR><LF>.<CR><LF>."),
    queued=said(_Q, "250 OK: queued as."),
    too_big=said("synthetic: QQ's text is not in server-quirks", "552 Message too large."),
    bad_sequence=said(
        "synthetic: QQ's text is not in server-quirks", "503 Bad sequence of commands."
    ),
    need_ehlo=said("synthetic: QQ's text is not in server-quirks", "503 Send HELO/EHLO first."),
    syntax=said(
        "github.com/gshang2017/docker/issues/18 (code not in the log; 501 is synthetic)",
        "501 Invalid input from 113.87.161.252 to newxmesmtplogicsvrszb1.qq.com.",
    ),
    unknown=said("synthetic: QQ's text is not in server-quirks", "502 Invalid input."),
    no_recipients=said("synthetic: QQ's text is not in server-quirks", "503 Need RCPT."),
    rset=said("synthetic: QQ's text is not in server-quirks", "250 OK"),
    noop=said("synthetic: QQ's text is not in server-quirks", "250 OK"),
    bye=said("synthetic, as in corpus servers/qq/auth-login-send-trailing-dots", "221 Bye."),
    closing=said(
        "synthetic: QQ's text is not in server-quirks", "421 Service not available, closing."
    ),
    size_limit=73400320,
    mail_needs_auth=said(
        "synthetic: QQ's text is not in server-quirks", "503 Error: need EHLO and AUTH first !"
    ),
    by_code={
        "auth:535": said(
            "github.com/FeeiCN/GSIL/issues/70; pandolia/qqbot#221 (GBK bytes, shown here decoded: "
            "'please log in with the authorization code; for details see')",
            "535 Error: \u8bf7\u4f7f\u7528\u6388\u6743\u7801\u767b\u5f55\u3002\u8be6\u60c5\u8bf7\u770b: "
            "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=28&&no=1001256",
        ),
    },
    notes=("Implicit TLS; the password is the mailbox's authorization code.",),
)

# --- Postfix, a plain MTA ---------------------------------------------------------------------

_P = "github.com/LukeSmithxyz/emailwiz/pull/138 (a swaks transcript, server-quirks §7)"
_P_SYN = "synthetic: Postfix's usual text"

POSTFIX = Profile(
    name="postfix",
    title="A plain Postfix: STARTTLS offered, AUTH PLAIN LOGIN after TLS, mail with or without AUTH",
    tls="none",
    greeting=said(_P, "220 mail.saloniamatteo.top ESMTP Postfix"),
    ehlo_plain=said(
        _P,
        "250-mail.saloniamatteo.top",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-VRFY",
        "250-ETRN",
        "250-STARTTLS",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-DSN",
        "250 SMTPUTF8",
    ),
    ehlo_tls=said(
        f"{_P}; after TLS without STARTTLS and with AUTH (synthetic: smtpd_tls_auth_only = yes)",
        "250-mail.saloniamatteo.top",
        "250-PIPELINING",
        "250-SIZE 10240000",
        "250-VRFY",
        "250-ETRN",
        "250-AUTH PLAIN LOGIN",
        "250-ENHANCEDSTATUSCODES",
        "250-8BITMIME",
        "250-DSN",
        "250 SMTPUTF8",
    ),
    helo=said(_P_SYN, "250 mail.saloniamatteo.top"),
    starttls=said(_P_SYN, "220 2.0.0 Ready to start TLS"),
    auth_ok=said(_P_SYN, "235 2.7.0 Authentication successful"),
    auth_bad=said(
        "synthetic: Postfix's usual text; server-quirks §7 shows the same prefix (corecode/dma#50)",
        "535 5.7.8 Error: authentication failed: authentication failure",
    ),
    login_prompts=(
        said("synthetic: Postfix (Cyrus SASL) prompts", "334 VXNlcm5hbWU6"),
        said("synthetic: Postfix (Cyrus SASL) prompts", "334 UGFzc3dvcmQ6"),
    ),
    mail_ok=said(_P, "250 2.1.0 Ok"),
    rcpt_ok=said(_P_SYN, "250 2.1.5 Ok"),
    data_go=said(_P_SYN, "354 End data with <CR><LF>.<CR><LF>"),
    queued=said("github.com/maildev/maildev/issues/88", "250 2.0.0 Ok: queued as B4C8112124D"),
    too_big=said(_P_SYN, "552 5.3.4 Message size exceeds fixed limit"),
    bad_sequence=said(_P_SYN, "503 5.5.1 Error: nested MAIL command"),
    need_ehlo=said("server-quirks §12 Q#41", "503 5.5.1 Error: send HELO/EHLO first"),
    syntax=said(_P_SYN, "501 5.5.4 Syntax: MAIL FROM:<address>"),
    unknown=said(_P_SYN, "502 5.5.2 Error: command not recognized"),
    no_recipients=said(_P_SYN, "554 5.5.1 Error: no valid recipients"),
    rset=said(_P_SYN, "250 2.0.0 Ok"),
    noop=said(_P_SYN, "250 2.0.0 Ok"),
    bye=said(_P, "221 2.0.0 Bye"),
    closing=said(_P_SYN, "421 4.4.2 mail.saloniamatteo.top Error: timeout exceeded"),
    size_limit=10240000,
    bare_lf=said(
        "github.com/VernissageApp/VernissageServer/issues/28 (Postfix >= 3.9, "
        "smtpd_forbid_bare_newline; host name changed to this profile's)",
        "521 5.5.2 mail.saloniamatteo.top Error: bare <LF> received",
    ),
    by_code={
        "rcpt:554": said(_P, "554 5.7.1 <{address}>: Relay access denied"),
    },
    notes=(
        "Takes mail with or without AUTH; AUTH only after STARTTLS.",
        "A bare LF is refused with 521 and the connection closed (Postfix >= 3.9).",
    ),
)

PROFILES: dict[str, Profile] = {
    p.name: p for p in (GMAIL, GMAIL_465, OUTLOOK, NETEASE_163, QQ, POSTFIX)
}
PROFILES["office365"] = OUTLOOK


def get_profile(name: str) -> Profile:
    """The profile called ``name``.

    Raises:
        KeyError: no such profile; the message lists the names.
    """
    try:
        return PROFILES[name.lower()]
    except KeyError:
        raise KeyError(
            f"no server profile {name!r}; the profiles are: {', '.join(sorted(PROFILES))}"
        ) from None
