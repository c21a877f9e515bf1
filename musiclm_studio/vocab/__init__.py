"""The token vocabularies of the conditioning streams the stage LMs hear besides MuLan: the beat grid
(``beat_grid``) and the musical key (``musical_key``). Plain code, no models: configs, models, data and
training all read them."""
