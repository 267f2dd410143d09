from .corpus import load_corpus, read_stories, split_story
from .stories import generate_stories
from .tokenizer import WordTokenizer, split_words

__all__ = ["WordTokenizer", "split_words", "generate_stories", "load_corpus", "read_stories", "split_story"]
