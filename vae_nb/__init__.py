__version__ = "0.1.0"

from .core import *
from .interface import *
from .config import *
from .vae import *
from .data import *
from .viz import *
from .step import *
from .checkpoint import *
from .distributed import *
from .train import *
from .algorithm import *
from .conv import *
from .cvae import *
from .vq import *
from .klae import *
from .estimator import *
from .metrics import *
from .objectives import *
from .cli import *
