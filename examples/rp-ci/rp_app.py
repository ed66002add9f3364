"""A stand-in for YOUR relying party: the code whose error handling the suite checks.

Replace this module with (a thin wrapper around) your own registration and sign-in code. What
matters is what your users see when the authenticator refuses, times out, vanishes, or is
PIN-blocked; here that is an `Outcome` string. It uses python-fido2's client (the platform side)
and server (the RP side) so the example runs without a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.server import Fido2Server
from fido2.webauthn import (
    AttestationConveyancePreference,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialUserEntity,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

ORIGIN = "https://login.example.com"
RP = PublicKeyCredentialRpEntity(id="example.com", name="Example")

# What the RP tells its user.
OK = "ok"
DENIED = "denied"            # "You declined the request on your security key."
TIMEOUT = "timeout"          # "Your security key was not touched in time. Try again."
CARD_REMOVED = "card_removed"  # "Your security key was taken away. Hold it to the reader."
PIN_BLOCKED = "pin_blocked"  # "Your security key's PIN is blocked: reset the key."
ERROR = "error"


class User(UserInteraction):
    """The person at the keyboard: knows `pin`; the card's control endpoint plays their finger."""

    def __init__(self, pin: str | None = None):
        self.pin = pin

    def prompt_up(self):
        pass

    def request_pin(self, permissions, rp_id):
        return self.pin

    def request_uv(self, permissions, rp_id):
        return False


def outcome_of(error: BaseException) -> str:
    """How the RP classifies a failed ceremony."""
    cause = error.cause if isinstance(error, ClientError) else error
    if isinstance(cause, CtapError):
        if cause.code == CtapError.ERR.OPERATION_DENIED:
            return DENIED
        if cause.code in (CtapError.ERR.USER_ACTION_TIMEOUT, CtapError.ERR.ACTION_TIMEOUT):
            return TIMEOUT
        if cause.code in (CtapError.ERR.PIN_BLOCKED, CtapError.ERR.PIN_AUTH_BLOCKED):
            return PIN_BLOCKED
        return ERROR
    # The reader lost the card mid-exchange: PC/SC reports it as a failed transmit.
    from smartcard.Exceptions import CardConnectionException

    chain = error
    while chain is not None:
        if isinstance(chain, CardConnectionException):
            return CARD_REMOVED
        chain = chain.__cause__ or chain.__context__
    return ERROR


@dataclass
class RelyingParty:
    """Registration and sign-in, with the outcome the user would see."""

    server: Fido2Server = field(
        default_factory=lambda: Fido2Server(RP, attestation=AttestationConveyancePreference.NONE))
    credentials: dict[str, list] = field(default_factory=dict)

    def register(self, device, username: str, pin: str | None = None,
                 user_verification=UserVerificationRequirement.DISCOURAGED) -> str:
        client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                             user_interaction=User(pin))
        entity = PublicKeyCredentialUserEntity(id=username.encode(), name=username,
                                               display_name=username.title())
        options, state = self.server.register_begin(
            entity, self.credentials.get(username, []),
            resident_key_requirement=ResidentKeyRequirement.DISCOURAGED,
            user_verification=user_verification)
        try:
            result = client.make_credential(options.public_key)
        except Exception as e:  # noqa: BLE001 - classified for the user
            return outcome_of(e)
        auth_data = self.server.register_complete(state, result)
        self.credentials.setdefault(username, []).append(auth_data.credential_data)
        return OK

    def sign_in(self, device, username: str, pin: str | None = None,
                user_verification=UserVerificationRequirement.DISCOURAGED) -> str:
        client = Fido2Client(device, client_data_collector=DefaultClientDataCollector(ORIGIN),
                             user_interaction=User(pin))
        credentials = self.credentials.get(username, [])
        options, state = self.server.authenticate_begin(credentials,
                                                        user_verification=user_verification)
        try:
            response = client.get_assertion(options.public_key).get_response(0)
        except Exception as e:  # noqa: BLE001 - classified for the user
            return outcome_of(e)
        self.server.authenticate_complete(state, credentials, response)
        return OK
