"""Built-in data sets, data-splitting helpers, labels and classification results."""
from .charts import confusionchart
from .datasets import digits, splitEachLabel
from .digit_arrays import digitTest4DArrayData, digitTrain4DArrayData
from .labels import Categorical, categorical, categories, confusionmat, countEachLabel
from ..table import Table

__all__ = ["digits", "splitEachLabel", "digitTrain4DArrayData", "digitTest4DArrayData", "categorical",
           "categories", "countEachLabel", "confusionmat", "confusionchart", "Categorical", "Table"]
