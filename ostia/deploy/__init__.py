"""`ostia deploy`: the production layout on one machine, each service a supervised process."""
