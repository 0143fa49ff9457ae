"""Handwritten-digit classification for Kaggle's Digit Recognizer, the fastai way: from the chapter-4 flow to CPU-fast CNNs"""

__version__ = "0.1.0"
