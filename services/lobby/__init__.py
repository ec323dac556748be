"""The seed's demo app: a lobby that pairs strangers who text an email address into a chat."""
