from oslo_config import cfg

# The fixed default only exists so `ostia up` works with no configuration file; anyone who can read this
# source can decrypt a CA key protected by it. Production deployments MUST set their own passphrase.
DEV_CA_PASSPHRASE = "insecure-ostia-dev-ca-passphrase"
# Same for the key encrypting stored TLS secrets (listener/pool certificates and their private keys): the
# default only makes `ostia up` work out of the box and protects nothing.
DEV_SECRET_ENCRYPTION_KEY = "insecure-ostia-dev-secret-encryption-key"

GROUP = "certificates"
OPTS = [
    cfg.StrOpt("ca_dir",
               help="Directory of the local CA (certificate, encrypted private key, controller client "
                    "certificate); created with mode 0700 on first use. Default: <state_dir>/ca."),
    cfg.StrOpt("ca_private_key_passphrase", secret=True, default=DEV_CA_PASSPHRASE,
               help="Passphrase encrypting the CA private key. The default is a publicly known development "
                    "value: it MUST be changed in production, before the CA is first created."),
    cfg.StrOpt("secret_encryption_key", secret=True, default=DEV_SECRET_ENCRYPTION_KEY,
               help="Key (any string; a Fernet key is derived from it) encrypting the TLS secrets of the local "
                    "certificate manager (`ostia secret create`) in the database. The default is a publicly "
                    "known development value: it MUST be changed in production, before the first secret is "
                    "stored; changing it later makes stored secrets unreadable."),
    cfg.IntOpt("cert_validity_days", default=30, min=1,
               help="Validity of amphora server certificates and the controller client certificate."),
    cfg.IntOpt("ca_validity_days", default=3650, min=1, help="Validity of the local CA certificate."),
    # Octavia's names. Local refs (`ostia://secrets/...`) keep resolving with either manager.
    cfg.StrOpt("cert_manager", default="local_cert_manager",
               choices=["local_cert_manager", "barbican_cert_manager"],
               help="Where TLS container refs that are not local refs resolve: barbican_cert_manager reads "
                    "Barbican secrets and certificate containers with the [service_auth] credentials."),
    cfg.StrOpt("region_name", help="Region of the key-manager endpoint in the Keystone catalog."),
    cfg.StrOpt("endpoint_type", default="publicURL", help="Catalog interface of the key-manager endpoint."),
    cfg.IntOpt("ca_rotation_grace", default=86400, min=0,
               help="Seconds the old CA stays trusted (by agents and the controller) after `ostia ca rotate` has "
                    "moved every amphora to the new CA; housekeeping then drops it everywhere."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
