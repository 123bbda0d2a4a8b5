"""An aiosmtpd handler for the launcher's tests: every message it accepts is written, as
received, to a file of its own in the folder named by WFL_SMTP_DIR (written to a temporary
name and renamed, so a reader never sees half a message). RCPT TO an address at
reject.example.org is refused with 550, so tests can see a relay's permanent refusal."""
import os
import uuid


class MaildirSink:
    def __init__(self):
        self.folder = os.environ["WFL_SMTP_DIR"]
        os.makedirs(self.folder, exist_ok=True)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().endswith("@reject.example.org"):
            return "550 5.1.1 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = uuid.uuid4().hex
        temporary = os.path.join(self.folder, "." + name)
        with open(temporary, "wb") as f:
            f.write(("X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n" % (envelope.mail_from, ",".join(envelope.rcpt_tos))).encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(temporary, os.path.join(self.folder, name + ".eml"))
        return "250 Message accepted for delivery"
