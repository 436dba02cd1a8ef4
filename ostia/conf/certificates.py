from oslo_config import cfg

# The fixed default only exists so `ostia up` works with no configuration file; anyone who can read this
# source can decrypt a CA key protected by it. Production deployments MUST set their own passphrase.
DEV_CA_PASSPHRASE = "insecure-ostia-dev-ca-passphrase"

GROUP = "certificates"
OPTS = [
    cfg.StrOpt("ca_dir",
               help="Directory of the local CA (certificate, encrypted private key, controller client "
                    "certificate); created with mode 0700 on first use. Default: <state_dir>/ca."),
    cfg.StrOpt("ca_private_key_passphrase", secret=True, default=DEV_CA_PASSPHRASE,
               help="Passphrase encrypting the CA private key. The default is a publicly known development "
                    "value: it MUST be changed in production, before the CA is first created."),
    cfg.IntOpt("cert_validity_days", default=30, min=1,
               help="Validity of amphora server certificates and the controller client certificate."),
    cfg.IntOpt("ca_validity_days", default=3650, min=1, help="Validity of the local CA certificate."),
]


def register_opts(conf: cfg.ConfigOpts) -> None:
    conf.register_opts(OPTS, group=GROUP)
