from . import models
from . import wizard
from .models.account_chart_template import post_init_hook
