"""Server profiles: stateful servers that answer as a named real server does (Gmail, Outlook,
163.com, QQ Mail, Postfix), for tests where a fixed script is too rigid.

    with ProfileController("gmail", users={"me@gmail.com": "app-password"}) as server:
        my_app.send(host=server.host, port=server.port, ca_file=server.ca_path)
        message = server.wait_message()
        assert message.rcpt_to == ["you@example.com"]
        server.assert_followed()

From pytest: the ``smtp_profile`` fixture; from a shell: ``smtp-harness serve --profile gmail``.
"""

from fake_servers.profiles.catalog import PROFILES, get_profile
from fake_servers.profiles.engine import Received
from fake_servers.profiles.model import Profile, Said
from fake_servers.profiles.server import ProfileController, ProfileServer, ProfileSession

__all__ = [
    "PROFILES",
    "Profile",
    "ProfileController",
    "ProfileServer",
    "ProfileSession",
    "Received",
    "Said",
    "get_profile",
]
