from . import l10n_efact_aoc_wizards
from . import account_move_reversal
